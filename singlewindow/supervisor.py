"""`singlewindow up`: the broker and every service as child processes, restarted when they die."""

from __future__ import annotations

import asyncio
import ctypes
import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from services.common.bus import ensure_topics
from services.common.doorbell import folder_for
from services.common.settings import SERVICES, Settings
from singlewindow.broker import broker_command, wait_for_port

log = logging.getLogger("singlewindow.supervisor")
_PR_SET_PDEATHSIG = 1


def die_with_parent() -> None:
    """In a child before exec: receive SIGTERM when the parent dies, so nothing is left behind."""
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    except OSError:
        pass


@dataclass
class Child:
    """One supervised process."""

    name: str
    argv: list[str]
    log_path: Path
    env: dict[str, str]
    url: str | None = None
    proc: subprocess.Popen[bytes] | None = None
    restarts: int = 0
    started_at: float = 0.0
    restart_at: float | None = None
    backoff_s: float = 0.5
    on_restart: Callable[[], None] | None = field(default=None, repr=False)

    def spawn(self) -> None:
        """Start (or restart) the process, appending its output to its log file."""
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        out = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            self.argv,
            stdout=out,
            stderr=subprocess.STDOUT,
            env=self.env,
            start_new_session=True,
            preexec_fn=die_with_parent,
        )
        out.close()
        self.started_at = time.monotonic()
        self.restart_at = None


def parse_replicas(spec: str) -> dict[str, int]:
    """`customs=2,tax=3` → {"customs": 2, "tax": 3}; every other service gets 1."""
    replicas = dict.fromkeys(SERVICES, 1)
    for part in filter(None, (p.strip() for p in spec.split(","))):
        name, _, count = part.partition("=")
        if name not in replicas or not count.isdigit() or int(count) < 1:
            raise ValueError(
                f"bad replica spec {part!r}: use service=N with service one of {', '.join(SERVICES)}"
            )
        replicas[name] = int(count)
    return replicas


class Supervisor:
    """Starts, watches and stops the whole system."""

    def __init__(
        self, settings: Settings, *, embedded_broker: bool, replicas: dict[str, int]
    ) -> None:
        self.settings = settings
        self.embedded_broker = embedded_broker
        self.replicas = replicas
        self.children: list[Child] = []
        self.broker: Child | None = None
        self.logs = settings.data_dir / "logs"
        self._stopping = False

    def _env(self) -> dict[str, str]:
        env = dict(os.environ)
        env["SW_KAFKA_BOOTSTRAP"] = self.settings.kafka_bootstrap
        env["SW_DATA_DIR"] = str(self.settings.data_dir.resolve())
        env["SW_PARTITIONS"] = str(self.settings.partitions)
        env["SW_TOPIC_GENERATION_S"] = str(self.settings.topic_generation_s)
        # One machine: publishers wake resting consumers at once (services/common/doorbell.py).
        env.setdefault(
            "SW_DOORBELL_DIR",
            str(folder_for(self.settings.data_dir, self.settings.kafka_bootstrap)),
        )
        env.setdefault("PYTHONUNBUFFERED", "1")
        return env

    def plan(self) -> None:
        """Decide the children: broker (if embedded), then each service replica on its own port."""
        env = self._env()
        if self.embedded_broker:
            self.broker = Child(
                "broker", broker_command(self.settings.broker_port), self.logs / "broker.log", env
            )
            self.broker.on_restart = self._recreate_topics
        for service in SERVICES:
            for i in range(self.replicas.get(service, 1)):
                port = self.settings.port_of(service) + 100 * i
                name = service if i == 0 else f"{service}-{i + 1}"
                argv = [sys.executable, "-m", "singlewindow.serve", service, "--port", str(port)]
                url = f"http://{self.settings.host}:{port}"
                self.children.append(Child(name, argv, self.logs / f"{name}.log", env, url=url))

    def _recreate_topics(self) -> None:
        # A restarted embedded broker has forgotten everything: topics first, then the sagas'
        # deadlines re-send what was in flight.
        asyncio.run(ensure_topics(self.settings))

    def start(self) -> None:
        """Start everything; return once every service answers /readyz."""
        self.plan()
        if self.broker:
            self.broker.spawn()
            if not wait_for_port(self.settings.host, self.settings.broker_port, 15):
                raise RuntimeError(
                    f"the embedded broker did not open port {self.settings.broker_port}; "
                    f"see {self.broker.log_path}"
                )
            log.info("embedded broker on %s:%d", self.settings.host, self.settings.broker_port)
        asyncio.run(ensure_topics(self.settings))
        for child in self.children:
            child.spawn()
            log.info("started %s (pid %d)", child.name, child.proc.pid if child.proc else -1)

    def wait_ready(
        self, timeout_s: float = 90, on_tick: Callable[[dict[str, bool]], None] | None = None
    ) -> None:
        """Poll /readyz of every service until all answer 200, restarting crashes meanwhile."""
        deadline = time.monotonic() + timeout_s
        ready: dict[str, bool] = {c.name: False for c in self.children}
        with httpx.Client(timeout=1.0) as client:
            while not all(ready.values()):
                if time.monotonic() > deadline:
                    waiting = ", ".join(n for n, ok in ready.items() if not ok)
                    raise RuntimeError(
                        f"not ready after {timeout_s:.0f}s: {waiting}; see logs in {self.logs}"
                    )
                self.tick()
                for child in self.children:
                    if not ready[child.name] and child.url:
                        try:
                            ready[child.name] = client.get(child.url + "/readyz").status_code == 200
                        except httpx.HTTPError:
                            pass
                if on_tick:
                    on_tick(ready)
                time.sleep(0.2)

    def tick(self) -> None:
        """Restart any child that has exited, with backoff; log each restart."""
        for child in ([self.broker] if self.broker else []) + self.children:
            if child.proc is None or self._stopping:
                continue
            code = child.proc.poll()
            if code is None:
                if time.monotonic() - child.started_at > 30:
                    child.backoff_s = 0.5
                continue
            now = time.monotonic()
            if child.restart_at is None:
                child.restart_at = now + child.backoff_s
                log.warning(
                    "%s exited with code %s; restarting in %.1fs (see %s)",
                    child.name,
                    code,
                    child.backoff_s,
                    child.log_path,
                )
            elif now >= child.restart_at:
                child.restarts += 1
                child.backoff_s = min(child.backoff_s * 2, 10)
                child.spawn()
                log.warning(
                    "restarted %s (restart #%d, pid %d)",
                    child.name,
                    child.restarts,
                    child.proc.pid if child.proc else -1,
                )
                if child.on_restart:
                    if wait_for_port(self.settings.host, self.settings.broker_port, 15):
                        child.on_restart()

    def run_forever(self) -> None:
        """Supervise until SIGINT or SIGTERM."""
        stop = {"now": False}

        def _stop(_sig: int, _frame: object) -> None:
            stop["now"] = True

        signal.signal(signal.SIGTERM, _stop)
        signal.signal(signal.SIGINT, _stop)
        while not stop["now"]:
            self.tick()
            time.sleep(0.2)

    def stop(self) -> None:
        """Stop the services (SIGTERM, then SIGKILL after 10 s), then the broker."""
        self._stopping = True
        for group in (self.children, [self.broker] if self.broker else []):
            for child in group:
                if child.proc and child.proc.poll() is None:
                    child.proc.terminate()
            deadline = time.monotonic() + 10
            for child in group:
                if child.proc:
                    try:
                        child.proc.wait(timeout=max(0.1, deadline - time.monotonic()))
                    except subprocess.TimeoutExpired:
                        log.warning("%s did not stop in time; killing it", child.name)
                        child.proc.kill()
                        child.proc.wait()
        log.info("all processes stopped")
