"""Faults under a steady load, on real processes: SIGKILL of every service and of the broker.

Each test registers an enterprise of its own, runs a steady trickle of declarations
(`steady_load`), injects its faults while they flow, then audits every accepted declaration
through the gateway and through each agency's own journal (`audit`). The figures of the last
run are printed (`pytest -s`) and recorded in docs/reliability.md.
"""

from __future__ import annotations

import asyncio
import json
import os
import resource
import signal
import sqlite3
import time
import uuid
from collections.abc import Iterator
from functools import partial
from pathlib import Path

import httpx
import pytest
from aiokafka import AIOKafkaConsumer

from schemas.envelope import new_envelope
from schemas.messages import CloseDeclaration
from schemas.samples import sample_declaration
from schemas.topics import commands
from services.common.generations import partitions_of
from singlewindow.spawn import Spawned, spawn_system
from tests.e2e.steady_load import (
    Audit,
    audit,
    broker_pid,
    follow_stream,
    gateway_client,
    new_enterprise,
    respawned,
    service_pid,
    steady_load,
)
from tests.e2e.test_guarantees import _produce
from tests.support import wait_for

ADMIN = "admin_test_singlewindow"


@pytest.fixture(scope="module")
def faulty(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Spawned]:
    """A system whose saga re-sends after 1 s and never stalls within the tests' patience."""
    extra = {"SW_STEP_DEADLINE_S": "1", "SW_STEP_MAX_ATTEMPTS": "30"}
    with spawn_system(tmp_path_factory.mktemp("faults"), extra_env=extra) as system:
        yield system


def _report(name: str, figures: dict[str, object]) -> None:
    print(f"\n[reliability] {name}: {json.dumps(figures, sort_keys=True)}")


def _assert_clean(result: Audit) -> None:
    assert not result.lost, f"lost: {result.lost[:5]}"
    assert not result.unexpected, f"listed but never accepted: {result.unexpected[:5]}"
    assert not result.duplicated, f"effects not exactly once: {result.duplicated[:5]}"
    assert result.statuses == {"completed": result.sent}, result.statuses


def test_sigkill_of_every_service_under_load_loses_nothing_and_repeats_nothing(
    faulty: Spawned,
) -> None:
    api_key = new_enterprise(faulty, ADMIN, "kill-everything")
    victims = ["customs", "gateway", "inspection", "forex", "tax", "gateway", "customs"]
    with steady_load(faulty, api_key, rate_per_s=15, limit=300) as load:
        for n, victim in enumerate(victims, start=1):
            load.wait_accepted(15 * n)
            old = service_pid(faulty, victim)
            assert old is not None, f"{victim} is not running"
            os.kill(old, signal.SIGKILL)
            wait_for(
                respawned(partial(service_pid, faulty, victim), old),
                timeout_s=60,
                what=f"the supervisor to restart {victim}",
            )
        load.wait_accepted(15 * (len(victims) + 1))
    ids = load.stop()
    result = audit(faulty, api_key, ADMIN, ids)
    _report(
        "sigkill",
        {**result.summary(), "kills": len(victims), "posts": load.posts, "retried": load.retried},
    )
    _assert_clean(result)
    assert load.retried > 0, "the gateway's deaths were never felt: the test injected nothing"
    up_log = (faulty.data_dir / "up.log").read_text()
    for victim in set(victims):
        assert f"restarted {victim}" in up_log


def test_broker_restart_forgets_everything_and_every_declaration_still_ends_once(
    faulty: Spawned,
) -> None:
    api_key = new_enterprise(faulty, ADMIN, "broker-restarts")
    restarts = 2
    with steady_load(faulty, api_key, rate_per_s=15, limit=300) as load:
        for n in range(1, restarts + 1):
            load.wait_accepted(40 * n)
            old = broker_pid(faulty)
            assert old is not None, "the broker is not running"
            os.kill(old, signal.SIGKILL)
            wait_for(
                respawned(partial(broker_pid, faulty), old),
                timeout_s=60,
                what="the supervisor to restart the broker",
            )
            # Consumers rejoin the new broker: every service is ready again.
            wait_for(faulty.ready, timeout_s=60, what="every service to rejoin")
        load.wait_accepted(40 * (restarts + 1))
    ids = load.stop()
    result = audit(faulty, api_key, ADMIN, ids)
    _report("broker_restart", {**result.summary(), "broker_restarts": restarts})
    _assert_clean(result)
    # The dashboard's stream follows the status topic the new broker recreated.
    created: list[str] = []
    seen = follow_stream(
        faulty,
        api_key,
        lambda: created.extend(_submit(faulty, api_key, 1)),
        until=lambda: created[0] if created else "\0",
    )
    assert created and created[0] in seen, "the live stream stopped at the broker restart"
    assert (faulty.data_dir / "up.log").read_text().count("restarted broker") >= restarts


def _lag(system: Spawned, topic: str) -> int:
    """Messages of `topic` its consumer group has not committed (acknowledged) yet.

    Counted per partition and never below zero: the embedded broker's end offset can trail
    the offset just committed by one for a moment.
    """

    async def sample() -> int:
        group = "sw-" + topic.split(".")[1]
        reader = AIOKafkaConsumer(
            bootstrap_servers=system.broker, group_id=group, enable_auto_commit=False
        )
        await reader.start()  # never subscribes: the group's assignment is untouched
        try:
            parts = await partitions_of(reader, topic)  # all its generations
            ends = await reader.end_offsets(parts)
            total = 0
            for tp in parts:
                committed = await reader.committed(tp)
                total += max(0, ends[tp] - max(0, committed or 0))
            return total
        finally:
            await reader.stop()

    return asyncio.run(sample())


def _metric(system: Spawned, service: str, series: str) -> float:
    """The value of one series (name with its labels, as exposed) of a service's metrics."""
    text = httpx.get(system.url(service) + "/metrics", timeout=5).text
    return sum(
        float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith(series + " ")
    )


def _submit(system: Spawned, api_key: str, count: int) -> dict[str, str]:
    with gateway_client(system, api_key) as client:
        ids = {}
        for _ in range(count):
            resp = client.post(
                "/v1/declarations", json=sample_declaration("export", "0110", "happy")
            )
            assert resp.status_code == 202, resp.text
            ids[resp.json()["id"]] = "export"
        return ids


def _holds_nothing(system: Spawned, agency: str, ids: dict[str, str]) -> bool:
    admin = {"Authorization": f"Bearer {ADMIN}"}
    return all(
        httpx.get(f"{system.url(agency)}/v1/records/{i}", headers=admin, timeout=10).status_code
        == 404
        for i in ids
    )


def test_a_full_disk_rolls_the_batch_back_unacknowledged_and_it_is_handled_after(
    faulty: Spawned,
) -> None:
    """forex cannot write a byte (RLIMIT_FSIZE 1, what a full disk looks like to SQLite)."""
    api_key = new_enterprise(faulty, ADMIN, "disk-full")
    pid = service_pid(faulty, "forex")
    assert pid is not None
    soft, hard = resource.prlimit(pid, resource.RLIMIT_FSIZE)
    retries_before = _metric(faulty, "forex", "sw_batch_retries_total")
    resource.prlimit(pid, resource.RLIMIT_FSIZE, (1, hard))
    try:
        ids = _submit(faulty, api_key, 10)
        wait_for(
            lambda: _metric(faulty, "forex", "sw_batch_retries_total") >= retries_before + 2,
            timeout_s=60,
            what="forex to fail its batch twice",
        )
        assert _lag(faulty, commands("forex")) > 0, "a command was acknowledged while failing"
        assert _holds_nothing(faulty, "forex", ids), "a failed batch committed something"
    finally:
        resource.prlimit(pid, resource.RLIMIT_FSIZE, (soft, hard))
    result = audit(faulty, api_key, ADMIN, ids)
    _report(
        "disk_full",
        {
            **result.summary(),
            "batch_retries": _metric(faulty, "forex", "sw_batch_retries_total") - retries_before,
        },
    )
    _assert_clean(result)
    assert service_pid(faulty, "forex") == pid, "forex should have survived, not restarted"
    wait_for(
        lambda: _lag(faulty, commands("forex")) == 0,
        timeout_s=30,
        what="every forex command acknowledged",
    )


def test_a_locked_database_holds_the_batch_until_the_lock_goes(faulty: Spawned) -> None:
    """Another process holds tax's SQLite file with an exclusive write lock for a while."""
    api_key = new_enterprise(faulty, ADMIN, "db-locked")
    lock = sqlite3.connect(faulty.data_dir / "tax.db", timeout=30, isolation_level=None)
    try:
        lock.execute("BEGIN EXCLUSIVE")
        ids = _submit(faulty, api_key, 10)
        with gateway_client(faulty, api_key) as client:
            wait_for(
                lambda: all(
                    client.get(f"/v1/declarations/{i}").json()["steps"].get("tax") == "pending"
                    for i in ids
                ),
                timeout_s=60,
                what="every declaration to wait on tax",
            )
        assert _lag(faulty, commands("tax")) > 0, "a command was acknowledged under the lock"
        # Read through the lock's own connection: tax's readers wait for the lock too.
        marks = ",".join("?" * len(ids))
        held = lock.execute(
            f"SELECT count(*) FROM journal WHERE declaration_id IN ({marks})", list(ids)
        )
        assert held.fetchone()[0] == 0, "tax wrote through an exclusive lock"
    finally:
        lock.execute("ROLLBACK")
        lock.close()
    result = audit(faulty, api_key, ADMIN, ids)
    _report("db_locked", result.summary())
    _assert_clean(result)


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


def _poison(topic: str, marker: str, n: int) -> list[tuple[str, bytes | None, bytes]]:
    """n of each kind of unreadable command for customs."""
    good = new_envelope(CloseDeclaration(), declaration_id=f"poison-{marker}", source="test")
    wrong_version = {**good.model_dump(mode="json"), "schema_version": 99}
    unknown = {**good.model_dump(mode="json"), "type": "customs.declaration.teleport"}
    invalid = {**good.model_dump(mode="json"), "type": "customs.goods.detain"}
    out: list[tuple[str, bytes | None, bytes]] = []
    for i in range(n):
        key = f"poison-{marker}-{i}".encode()
        for value in (
            b"{not json " + marker.encode(),
            b"\xff\xfe" + marker.encode(),
            json.dumps({**wrong_version, "id": f"{good.id[:-4]}{i:04x}"}).encode(),
            json.dumps(unknown).encode(),
            json.dumps(invalid).encode(),
        ):
            out.append((topic, key, value))
    return out


def test_a_flood_of_poison_is_dead_lettered_by_kind_and_the_consumer_neither_stops_nor_spins(
    faulty: Spawned,
) -> None:
    api_key = new_enterprise(faulty, ADMIN, "poison")
    kinds = ("unparseable", "wrong_version", "unknown_type", "invalid")
    before = {k: _metric(faulty, "customs", f'sw_dead_letters_total{{kind="{k}"}}') for k in kinds}
    rounds = 40  # 200 poison messages, interleaved with real declarations
    asyncio.run(
        _produce(
            faulty.broker, _poison(faulty.topic(commands("customs")), uuid.uuid4().hex, rounds)
        )
    )
    ids = _submit(faulty, api_key, 20)
    wait_for(
        lambda: all(
            _metric(faulty, "customs", f'sw_dead_letters_total{{kind="{k}"}}') - before[k]
            >= (2 * rounds if k == "unparseable" else rounds)
            for k in kinds
        ),
        timeout_s=60,
        what="every poison message dead-lettered and counted by kind",
    )
    result = audit(faulty, api_key, ADMIN, ids)
    _assert_clean(result)
    # Not spinning: once the flood is dealt with, customs idles (a busy loop burns ~1 s/s).
    pid = service_pid(faulty, "customs")
    assert pid is not None
    start = _cpu_seconds(pid)
    time.sleep(2)  # the measurement window, not a wait for a condition
    busy = (_cpu_seconds(pid) - start) / 2
    counted = {
        k: _metric(faulty, "customs", f'sw_dead_letters_total{{kind="{k}"}}') - before[k]
        for k in kinds
    }
    _report("poison", {**result.summary(), "dead_lettered": counted, "idle_cpu_share": busy})
    assert busy < 0.25, f"customs uses {busy:.0%} of a core with nothing to do"
