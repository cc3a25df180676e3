"""Faults under a steady load, on real processes: SIGKILL of every service and of the broker.

Each test registers an enterprise of its own, runs a steady trickle of declarations
(`steady_load`), injects its faults while they flow, then audits every accepted declaration
through the gateway and through each agency's own journal (`audit`). The figures of the last
run are printed (`pytest -s`) and recorded in docs/reliability.md.
"""

from __future__ import annotations

import json
import os
import signal
from collections.abc import Iterator
from functools import partial

import pytest

from singlewindow.spawn import Spawned, spawn_system
from tests.e2e.steady_load import (
    Audit,
    audit,
    broker_pid,
    new_enterprise,
    respawned,
    service_pid,
    steady_load,
)
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
    assert (faulty.data_dir / "up.log").read_text().count("restarted broker") >= restarts
