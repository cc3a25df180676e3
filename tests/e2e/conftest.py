"""A real system for the end-to-end tests: `singlewindow up` in a subprocess, on free ports."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.support import free_port_block, wait_for

SERVICES = ("gateway", "customs", "inspection", "forex", "tax")
TERMINAL = {"completed", "rejected", "failed", "cancelled"}


@dataclass
class System:
    """A running single window: its URLs, keys, broker address and log folder."""

    proc: subprocess.Popen[bytes]
    port_base: int
    broker: str
    data_dir: Path
    api_key: str
    admin_token: str

    def url(self, service: str) -> str:
        return f"http://127.0.0.1:{self.port_base + SERVICES.index(service)}"

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
    ) -> dict:
        def probe() -> dict | None:
            view = client.get(f"/v1/declarations/{declaration_id}").json()
            return view if view["status"] in TERMINAL else None

        return wait_for(probe, timeout_s=timeout_s, what=f"{declaration_id} to end", every_s=0.1)

    def pid_of(self, service: str) -> int:
        return int(httpx.get(self.url(service) + "/healthz", timeout=5).json()["pid"])

    def all_ready(self) -> bool:
        for service in SERVICES:
            try:
                if httpx.get(self.url(service) + "/readyz", timeout=2).status_code != 200:
                    return False
            except httpx.HTTPError:
                return False
        return True


@pytest.fixture(scope="session")
def system(tmp_path_factory: pytest.TempPathFactory) -> Iterator[System]:
    data_dir = tmp_path_factory.mktemp("system")
    base = free_port_block(6)
    env = {k: v for k, v in os.environ.items() if not k.startswith("SW_")}
    env.update(
        SW_PORT_BASE=str(base),
        SW_BROKER_PORT=str(base + 5),
        SW_DATA_DIR=str(data_dir),
        SW_STEP_DEADLINE_S="2",
        SW_STEP_MAX_ATTEMPTS="10",
        PYTHONUNBUFFERED="1",
    )
    out = (data_dir / "up.log").open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "singlewindow", "up"],
        env=env,
        stdout=out,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    sys_ = System(
        proc,
        base,
        f"127.0.0.1:{base + 5}",
        data_dir,
        "sk_test_singlewindow_demo",
        "admin_test_singlewindow",
    )
    try:
        wait_for(
            lambda: proc.poll() is not None or sys_.all_ready(),
            timeout_s=120,
            what="the system to be ready",
            every_s=0.25,
        )
        if proc.poll() is not None:
            pytest.fail(
                f"singlewindow up exited with {proc.returncode}:\n{(data_dir / 'up.log').read_text()}"
            )
        yield sys_
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
        out.close()


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
