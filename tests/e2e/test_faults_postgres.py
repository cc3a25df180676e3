"""The fault suite's kills and restarts again, on PostgreSQL with two replicas of every service.

No lock serializes the replicas' writers (services/common/database.py): while processes are
SIGKILLed mid-batch, leave and rejoin their groups, and the broker forgets everything, the
replicas of each service commit side by side and the row guards (inbox key, record versions,
counter blocks) keep every effect exactly once. The tests are those of test_faults.py and
test_faults_rebalance.py, collected again with these fixtures.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from services.common.settings import SERVICES
from singlewindow.spawn import Spawned, spawn_system
from tests.e2e.test_faults import (  # noqa: F401  (collected again, on PostgreSQL)
    test_broker_restart_forgets_everything_and_every_declaration_still_ends_once,
    test_sigkill_of_every_service_under_load_loses_nothing_and_repeats_nothing,
)
from tests.e2e.test_faults_rebalance import (  # noqa: F401
    test_replicas_leaving_and_joining_mid_load_lose_nothing_and_repeat_nothing,
)
from tests.postgres import PostgresServer


@pytest.fixture(scope="module")
def faulty(postgres: PostgresServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Spawned]:
    """Two replicas of every service on PostgreSQL; re-sends after 1 s, no stall in patience."""
    extra = {
        "SW_DATABASE_URL": postgres.service_template("faults"),
        "SW_PARTITIONS": "4",
        "SW_STEP_DEADLINE_S": "1",
        "SW_STEP_MAX_ATTEMPTS": "30",
    }
    spec = ",".join(f"{s}=2" for s in SERVICES)
    with spawn_system(
        tmp_path_factory.mktemp("faults-postgres"), extra_env=extra, args=("--replicas", spec)
    ) as system:
        yield system


@pytest.fixture(scope="module")
def replicated(faulty: Spawned) -> Spawned:
    """The rebalance test's system is the same one."""
    return faulty
