"""Rebalance while consuming: replicas leave and join their group under a steady load.

customs and tax run two replicas each. One leaves politely (SIGTERM: it leaves the group at
once), one dies (SIGKILL: the group notices after a session timeout); the supervisor starts
both again, so each also joins mid-load. Partitions move twice each time; whatever was
handled but not committed is redelivered to the new owner, whose inbox sees it was handled.
"""

from __future__ import annotations

import json
import os
import re
import signal
from collections.abc import Iterator
from functools import partial

import httpx
import pytest

from singlewindow.spawn import Spawned, spawn_system
from tests.e2e.steady_load import audit, new_enterprise, respawned, service_pid, steady_load
from tests.support import wait_for

ADMIN = "admin_test_singlewindow"


@pytest.fixture(scope="module")
def replicated(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Spawned]:
    extra = {"SW_STEP_DEADLINE_S": "1", "SW_STEP_MAX_ATTEMPTS": "30"}
    with spawn_system(
        tmp_path_factory.mktemp("rebalance"),
        extra_env=extra,
        args=("--replicas", "customs=2,tax=2"),
    ) as system:
        yield system


def _duplicates(system: Spawned, service: str) -> float:
    total = 0.0
    for replica in (0, 1):
        port = int(system.url(service).rsplit(":", 1)[1]) + 100 * replica
        try:
            text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
        except httpx.HTTPError:
            continue
        total += sum(
            float(line.rsplit(" ", 1)[1])
            for line in text.splitlines()
            if re.match(r"sw_messages_duplicate_total ", line)
        )
    return total


def test_replicas_leaving_and_joining_mid_load_lose_nothing_and_repeat_nothing(
    replicated: Spawned,
) -> None:
    api_key = new_enterprise(replicated, ADMIN, "rebalance")
    moves = [("customs", signal.SIGTERM), ("tax", signal.SIGKILL), ("customs", signal.SIGKILL)]
    with steady_load(replicated, api_key, rate_per_s=15, limit=300) as load:
        for n, (service, sig) in enumerate(moves, start=1):
            load.wait_accepted(30 * n)
            old = service_pid(replicated, service, replica=2)
            assert old is not None, f"{service}-2 is not running"
            os.kill(old, sig)
            wait_for(
                respawned(partial(service_pid, replicated, service, 2), old),
                timeout_s=60,
                what=f"{service}-2 to be started again",
            )
        load.wait_accepted(30 * (len(moves) + 1))
    ids = load.stop()
    result = audit(replicated, api_key, ADMIN, ids)
    print(
        "\n[reliability] rebalance: "
        + json.dumps(
            {
                **result.summary(),
                "replica_exits": len(moves),
                "duplicates_skipped_by_inbox": {
                    s: _duplicates(replicated, s) for s in ("customs", "tax")
                },
            },
            sort_keys=True,
        )
    )
    assert not result.lost and not result.unexpected
    assert not result.duplicated, result.duplicated[:5]
    assert result.statuses == {"completed": result.sent}
    up_log = (replicated.data_dir / "up.log").read_text()
    assert "restarted customs-2" in up_log and "restarted tax-2" in up_log
