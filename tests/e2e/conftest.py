"""A real system for the end-to-end tests: `singlewindow up` in a subprocess, on free ports."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from singlewindow.spawn import Spawned, spawn_system
from tests.support import wait_for

TERMINAL = {"completed", "rejected", "failed", "cancelled"}


@dataclass
class System(Spawned):
    """A running single window: its URLs, keys, broker address and log folder."""

    api_key: str = "sk_test_singlewindow_demo"
    admin_token: str = "admin_test_singlewindow"

    def client(self, api_key: str | None = None) -> httpx.Client:
        return httpx.Client(
            base_url=self.url("gateway"),
            timeout=10,
            headers={"Authorization": f"Bearer {api_key or self.api_key}"},
        )

    def logs(self) -> str:
        out = []
        for path in sorted((self.data_dir / "logs").glob("*.log")):
            out.append(f"--- {path.name}\n" + path.read_text(errors="replace")[-3000:])
        return "\n".join(out)

    def wait_terminal(
        self, client: httpx.Client, declaration_id: str, timeout_s: float = 30
    ) -> dict[str, Any]:
        def probe() -> dict[str, Any] | None:
            view = client.get(f"/v1/declarations/{declaration_id}").json()
            return view if view["status"] in TERMINAL else None

        return wait_for(probe, timeout_s=timeout_s, what=f"{declaration_id} to end", every_s=0.1)

    def declare(self, client: httpx.Client, body: dict[str, Any]) -> dict[str, Any]:
        """Submit a declaration and wait for it to end: its final view."""
        resp = client.post("/v1/declarations", json=body)
        assert resp.status_code == 202, resp.text
        return self.wait_terminal(client, resp.json()["id"])

    def pid_of(self, service: str) -> int:
        return int(httpx.get(self.url(service) + "/healthz", timeout=5).json()["pid"])

    def load(self, out: Path, *args: str) -> subprocess.CompletedProcess[str]:
        """`singlewindow load` against this system, its reports written to `out`."""
        where = ("--gateway", self.url("gateway"), "--kafka", self.broker, "--out", str(out))
        return subprocess.run(
            [sys.executable, "-m", "singlewindow", "load", *args, *where],
            capture_output=True,
            text=True,
            timeout=180,
        )


@pytest.fixture(scope="session")
def system(tmp_path_factory: pytest.TempPathFactory) -> Iterator[System]:
    data_dir = tmp_path_factory.mktemp("system")
    # Short deadlines so re-sent commands heal a killed agency within the tests' patience.
    # Topics turn every 60 s (rather than `up`'s 120 s): the suite runs across many turns.
    extra = {"SW_STEP_DEADLINE_S": "2", "SW_STEP_MAX_ATTEMPTS": "10", "SW_TOPIC_GENERATION_S": "60"}
    with spawn_system(data_dir, extra_env=extra) as spawned:
        yield System(
            spawned.proc, spawned.port_base, spawned.broker, data_dir, spawned.generation_s
        )


@pytest.fixture(autouse=True)
def _show_logs_on_failure(request: pytest.FixtureRequest) -> Iterator[None]:
    yield
    rep = getattr(request.node, "rep_call", None)
    if rep is not None and rep.failed and "system" in request.fixturenames:
        print(request.getfixturevalue("system").logs())


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]):  # type: ignore[no-untyped-def]
    rep = yield
    setattr(item, "rep_" + rep.when, rep)
    return rep
