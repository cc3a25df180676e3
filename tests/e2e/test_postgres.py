"""The system on PostgreSQL: the workflow tests again, then a load whose figures /metrics match.

One PostgreSQL server (tests/postgres.py), one database a service, two replicas of each
agency sharing the four partitions of its topics (one consumer group a service).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import psycopg
import pytest

from schemas.samples import sample_declaration
from services.common.settings import SERVICES
from singlewindow.spawn import spawn_system
from tests.e2e.conftest import System
from tests.e2e.scrape import Samples, names, scrape, total
from tests.e2e.test_workflow import (  # noqa: F401  (collected again, on PostgreSQL)
    test_customs_rejection_ends_the_declaration_with_the_reason,
    test_denied_refund_still_completes_with_zero_refund,
    test_export_declaration_is_cleared_settled_and_refunded,
    test_failed_inspection_detains_the_goods_and_fails_the_declaration,
    test_import_declaration_pays_taxes_before_release,
    test_the_same_idempotency_key_replays_the_first_response,
)
from tests.postgres import PostgresServer
from tests.support import wait_for
from tests.unit.test_deploy import dashboard_metric_names

AGENCIES = ("customs", "inspection", "forex", "tax")
REPLICAS = dict.fromkeys(("gateway", *AGENCIES), 2)


@pytest.fixture(scope="module")
def system(postgres: PostgresServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[System]:
    """`singlewindow up` with SW_DATABASE_URL on PostgreSQL (overrides the SQLite `system`)."""
    data_dir = tmp_path_factory.mktemp("on-postgres")
    extra = {
        "SW_DATABASE_URL": postgres.service_template("e2e"),
        "SW_PARTITIONS": "4",
        "SW_STEP_DEADLINE_S": "2",
        "SW_STEP_MAX_ATTEMPTS": "10",
    }
    spec = ",".join(f"{s}={n}" for s, n in REPLICAS.items())
    with spawn_system(data_dir, extra_env=extra, args=("--replicas", spec)) as spawned:
        yield System(
            spawned.proc, spawned.port_base, spawned.broker, data_dir, spawned.generation_s
        )


def _urls(system: System, service: str) -> list[str]:
    base = system.url(service).rsplit(":", 1)[0]
    port = system.port_base + SERVICES.index(service)
    return [f"{base}:{port + 100 * i}" for i in range(REPLICAS.get(service, 1))]


def _all(system: System) -> dict[str, list[Samples]]:
    return {s: [scrape(u) for u in _urls(system, s)] for s in SERVICES}


def _sum(scrapes: list[Samples], name: str, **labels: str) -> float:
    return sum(total(s, name, **labels) for s in scrapes)


def test_every_service_stores_in_postgresql_not_sqlite(
    system: System, postgres: PostgresServer
) -> None:
    with system.client() as client:
        created = client.post(
            "/v1/declarations", json=sample_declaration("export", "0110", "happy")
        ).json()
        system.wait_terminal(client, created["id"])
    assert list(system.data_dir.glob("*.db")) == []
    for service in ("gateway", "customs", "forex", "tax"):
        with psycopg.connect(
            f"host=127.0.0.1 port={postgres.port} user=sw dbname=e2e_{service}"
        ) as conn:
            row = conn.execute(
                "SELECT count(*) FROM records WHERE key = %s", (created["id"],)
            ).fetchone()
            assert row == (1,), service


def test_metrics_after_a_load_run_match_what_the_load_tool_sent(
    system: System, tmp_path: Path
) -> None:
    before = _all(system)
    out = tmp_path / "load"
    load = ["load", "--rate", "10", "--duration", "3", "--mix", "export/0110/happy=1"]
    where = ["--gateway", system.url("gateway"), "--kafka", system.broker, "--out", str(out)]
    result = subprocess.run(
        [sys.executable, "-m", "singlewindow", *load, *where, "--timeout", "90"],
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    report = json.loads((out / "report.json").read_text())
    sent = report["sent"]
    assert sent == 30 and report["outcomes"] == {"completed": 30}

    def delta(service: str, name: str, **labels: str) -> float:
        return _sum(after[service], name, **labels) - _sum(before[service], name, **labels)

    after = _all(system)
    # Each export is filed once with customs and applies for one refund, whichever replica
    # handled it; the gateway saw each tax step reach refund_paid once.
    filed = {"type": "customs.declaration.file"}
    assert delta("customs", "sw_messages_handled_total", outcome="ok", **filed) == sent
    assert delta("customs", "sw_handler_seconds_count", **filed) == sent
    assert delta("tax", "sw_messages_handled_total", type="tax.refund.apply") == sent
    assert delta("gateway", "sw_saga_steps_total", step="tax", state="refund_paid") == sent
    assert delta("gateway", "sw_saga_steps_total", step="forex", state="settled") == sent

    # Each gateway replica counts the status moves it committed: summed over replicas, each
    # declaration entered `completed` once, and left every status it passed on the way.
    def held(status: str) -> float:
        entered = delta("gateway", "sw_declaration_status_entered_total", status=status)
        return entered - delta("gateway", "sw_declaration_status_left_total", status=status)

    entered = delta("gateway", "sw_declaration_status_entered_total", status="completed")
    assert entered == sent
    assert delta("gateway", "sw_declaration_status_entered_total", status="submitted") == sent
    assert {s: held(s) for s in ("submitted", "in_progress", "stalled", "completed")} == {
        "submitted": 0,
        "in_progress": 0,
        "stalled": 0,
        "completed": sent,
    }
    # An export of phones (nothing to inspect) is one command to each of customs, forex and
    # tax. Customs clears on its own: it answers the filing with three events (accepted,
    # released, closed), forex and tax with one each, published from their outboxes, and
    # the gateway handles those 3 + 1 + 1 = 5 events. A command the gateway re-sent after
    # its 2 s deadline is a duplicate: not handled again, but answered again with the
    # replies stored for it (published once more).
    for agency, events in {"customs": 3, "forex": 1, "tax": 1, "inspection": 0}.items():
        commands = 1 if events else 0
        assert delta(agency, "sw_messages_handled_total") == commands * sent, agency
        replayed = delta(agency, "sw_messages_duplicate_total")
        published = delta(agency, "sw_outbox_published_total")
        assert published == events * (sent + replayed), agency
    assert delta("gateway", "sw_messages_handled_total", outcome="ok") == 5 * sent
    assert delta("gateway", "sw_outbox_published_total") >= 5 * sent  # + status events
    assert all(delta(s, "sw_dead_letters_total") == 0 for s in SERVICES)
    assert all(delta(s, "sw_batch_seconds_count") > 0 for s in ("gateway", "customs", "tax"))

    # Every partition of every topic consumed is owned by one replica, and once the run is
    # over nothing is left to consume.
    def lag_settled() -> dict[str, list[Samples]] | None:
        now = _all(system)
        lags = [
            (n, ls, v)
            for replicas in now.values()
            for s in replicas
            for (n, ls), v in s.items()
            if n == "sw_consumer_lag"
        ]
        return now if lags and all(v == 0 for _, _, v in lags) else None

    settled = wait_for(lag_settled, timeout_s=30, what="consumer lag to reach 0", every_s=0.5)
    for agency in AGENCIES:
        # The two replicas of each agency split its commands' four partitions: each owns
        # some, none is owned twice, none is left out.
        owned = [
            {
                (dict(ls)["topic"], dict(ls)["partition"])
                for (n, ls), _ in replica.items()
                if n == "sw_consumer_lag"
            }
            for replica in settled[agency]
        ]
        assert all(owned) and not owned[0] & owned[1], (agency, owned)
        assert owned[0] | owned[1] == {(f"sw.{agency}.commands", str(p)) for p in range(4)}
    # The Grafana dashboard asks only for metrics the services export.
    exported = {name for replicas in settled.values() for s in replicas for name in names(s)}
    assert dashboard_metric_names() - exported == set()


def test_readiness_checks_the_postgresql_database(system: System) -> None:
    for service in SERVICES:
        body = httpx.get(system.url(service) + "/readyz", timeout=5).json()
        assert body["checks"] == {"database": True, "consumer": True}, body


def test_an_enterprise_registered_on_one_gateway_replica_is_known_to_the_other(
    system: System,
) -> None:
    first, second = _urls(system, "gateway")
    admin = {"Authorization": f"Bearer {system.admin_token}"}
    made = httpx.post(
        first + "/v1/admin/enterprises", json={"name": "Xiamen Replica Co."}, headers=admin
    )
    assert made.status_code == 201, made.text
    key = {"Authorization": f"Bearer {made.json()['api_key']}"}
    sample = sample_declaration("export", "0110", "happy")
    created = httpx.post(second + "/v1/declarations", json=sample, headers=key, timeout=10)
    assert created.status_code == 202, created.text
    seen = httpx.get(f"{first}/v1/declarations/{created.json()['id']}", headers=key, timeout=10)
    assert seen.status_code == 200
    unknown = {"Authorization": "Bearer sk_test_nobody"}
    assert httpx.get(second + "/v1/declarations", headers=unknown).status_code == 401


def test_killing_a_replica_mid_flight_on_postgresql_loses_nothing_and_repeats_nothing(
    system: System, postgres: PostgresServer
) -> None:
    # Last in this module: the killed replicas restart with fresh counters.
    sample = sample_declaration("export", "0110", "happy")
    with system.client() as client:
        ids = [client.post("/v1/declarations", json=sample).json()["id"] for _ in range(20)]
        for agency in ("customs", "tax"):
            pid = httpx.get(_urls(system, agency)[0] + "/healthz", timeout=5).json()["pid"]
            os.kill(pid, signal.SIGKILL)
        ids += [client.post("/v1/declarations", json=sample).json()["id"] for _ in range(10)]
        for declaration_id in ids:
            view = system.wait_terminal(client, declaration_id, timeout_s=90)
            assert view["status"] == "completed", view

    def audit(service: str, sql: str) -> dict[str, int]:
        dsn = f"host=127.0.0.1 port={postgres.port} user=sw dbname=e2e_{service}"
        with psycopg.connect(dsn) as conn:
            rows = conn.execute(sql, (ids,)).fetchall()
        return {declaration_id: int(n) for declaration_id, n in rows}

    # Read from each agency's own tables: one filing handled by customs and one refund paid
    # by tax a declaration, however often the commands were delivered or re-sent.
    once = dict.fromkeys(ids, 1)
    journal = (
        "SELECT declaration_id, count(*) FROM journal WHERE declaration_id = ANY(%s) "
        "AND type = '{type}' AND direction = '{direction}' GROUP BY declaration_id"
    )
    filed = journal.format(type="customs.declaration.file", direction="in")
    paid = journal.format(type="tax.refund.paid", direction="out")
    assert audit("customs", filed) == once
    assert audit("tax", paid) == once
    records = "SELECT key, count(*) FROM records WHERE key = ANY(%s) GROUP BY key"
    assert audit("tax", records) == once
