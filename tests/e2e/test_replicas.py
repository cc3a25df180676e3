"""Two replicas of a service share its consumer group's partitions, and nothing happens twice."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from singlewindow.samples import sample_declaration
from singlewindow.spawn import Spawned, spawn_system
from tests.support import wait_for


@pytest.fixture(scope="module")
def replicated(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Spawned]:
    with spawn_system(
        tmp_path_factory.mktemp("replicas"), args=("--replicas", "customs=2,tax=2")
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
    # command once: three customs commands and one tax command a declaration.
    assert all(n > 0 for n in per_customs + per_tax), (per_customs, per_tax)
    assert sum(per_customs) == 3 * 40 and sum(per_tax) == 40


def test_each_replica_reports_its_own_process(replicated: Spawned) -> None:
    pids = {
        httpx.get(f"http://127.0.0.1:{replicated.port_base + offset}/healthz").json()["pid"]
        for offset in (1, 101)
    }
    assert len(pids) == 2
    assert Path(replicated.data_dir / "logs" / "customs-2.log").exists()
