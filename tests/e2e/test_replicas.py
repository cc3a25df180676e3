"""Two replicas of a service share its consumer group's partitions, and nothing happens twice.

The gateway runs two replicas too: a page on one sees what the other commits.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from schemas.samples import sample_declaration
from singlewindow.spawn import Spawned, spawn_system
from tests.e2e.steady_load import new_enterprise
from tests.support import wait_for

ADMIN = "admin_test_singlewindow"


@pytest.fixture(scope="module")
def replicated(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Spawned]:
    with spawn_system(
        tmp_path_factory.mktemp("replicas"), args=("--replicas", "gateway=2,customs=2,tax=2")
    ) as system:
        yield system


def _handled(url: str) -> float:
    text = httpx.get(url + "/metrics", timeout=5).text
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if re.match(r"sw_messages_handled_total\{", line)
    )


def test_replicas_share_the_work_and_each_declaration_is_handled_once(replicated: Spawned) -> None:
    customs = [
        replicated.url("customs"),
        replicated.url("customs").replace(
            str(replicated.port_base + 1), str(replicated.port_base + 101)
        ),
    ]
    tax = [
        replicated.url("tax"),
        replicated.url("tax").replace(
            str(replicated.port_base + 4), str(replicated.port_base + 104)
        ),
    ]
    headers = {"Authorization": "Bearer sk_test_singlewindow_demo"}
    with httpx.Client(base_url=replicated.url("gateway"), headers=headers, timeout=10) as client:
        ids = [
            client.post(
                "/v1/declarations", json=sample_declaration("export", "0110", "happy")
            ).json()["id"]
            for _ in range(40)
        ]

        def all_completed() -> bool:
            return all(
                client.get(f"/v1/declarations/{i}").json()["status"] == "completed" for i in ids
            )

        wait_for(all_completed, timeout_s=60, what="40 declarations to complete", every_s=0.5)
        for declaration_id in ids:
            types = [
                e["type"]
                for e in client.get(f"/v1/declarations/{declaration_id}/events").json()["data"]
            ]
            assert types.count("tax.refund.paid") == 1
    per_customs = [_handled(u) for u in customs]
    per_tax = [_handled(u) for u in tax]
    # Two partitions split between two members: both work, and together they handled each
    # command once: one customs command (the filing: customs clears a happy export on its
    # own) and one tax command a declaration.
    assert all(n > 0 for n in per_customs + per_tax), (per_customs, per_tax)
    assert sum(per_customs) == 40 and sum(per_tax) == 40


def test_each_replica_reports_its_own_process(replicated: Spawned) -> None:
    pids = {
        httpx.get(f"http://127.0.0.1:{replicated.port_base + offset}/healthz").json()["pid"]
        for offset in (1, 101)
    }
    assert len(pids) == 2
    assert Path(replicated.data_dir / "logs" / "customs-2.log").exists()


def test_a_page_on_one_gateway_sees_each_change_the_other_commits_once(
    replicated: Spawned,
) -> None:
    """The second gateway's status changes reach the first one's page through the status
    topic, read while the page is open; the first's own changes come from its commits, and
    the topic's copies of them are not counted again in the class view."""
    key = new_enterprise(replicated, ADMIN, "two-gateways")
    headers = {"Authorization": f"Bearer {key}"}
    first = replicated.url("gateway")
    second = first.replace(str(replicated.port_base), str(replicated.port_base + 100))
    seen: list[str] = []
    stop = threading.Event()

    def read() -> None:
        timeout = httpx.Timeout(10, read=2)
        with httpx.stream("GET", first + "/v1/stream", headers=headers, timeout=timeout) as resp:
            for chunk in resp.iter_text():
                seen.append(chunk)
                if stop.is_set():
                    return

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    with (
        httpx.Client(headers=headers, timeout=10) as one,
        httpx.Client(headers=headers, timeout=10) as two,
    ):

        def submit(client: httpx.Client, base: str) -> str:
            body = sample_declaration("export", "0110", "happy")
            return str(client.post(base + "/v1/declarations", json=body).json()["id"])

        # The page follows the topic once its stream is open: a declaration the second
        # gateway takes shows on it. Then the class view starts counting afresh.
        probe = submit(two, second)
        wait_for(lambda: probe in "".join(seen), timeout_s=30, what="the probe on the page")
        wait_for(
            lambda: one.get(f"{first}/v1/declarations/{probe}").json()["status"] == "completed",
            timeout_s=30,
            what="the probe to complete",
        )
        assert one.put(first + "/v1/dashboard/run", json={"reset": True}).status_code == 200
        ids = [submit(two, second) for _ in range(4)] + [submit(one, first) for _ in range(4)]

        def statuses() -> int | None:
            total = 0
            for declaration_id in ids:
                events = one.get(f"{first}/v1/declarations/{declaration_id}/events").json()
                kinds = [e["type"] for e in events["data"]]
                if "tax.refund.paid" not in kinds:
                    return None
                total += kinds.count("declaration.status.changed")
            return total

        made = wait_for(statuses, timeout_s=60, what="8 declarations to complete", every_s=0.5)

        def counted() -> dict[str, object] | None:
            stats = one.get(first + "/v1/dashboard/run").json()["stats"]
            return stats if stats["by_status"].get("completed") == len(ids) else None

        stats = wait_for(counted, timeout_s=30, what="the class view to count all 8")
    stop.set()
    reader.join(5)
    text = "".join(seen)
    assert all(declaration_id in text for declaration_id in ids)
    assert stats["events"] == made, "each status change counted once, none missed"
