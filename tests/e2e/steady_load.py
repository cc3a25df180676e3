"""A steady trickle of declarations for the fault tests, and the audit of what became of them.

The load is a thread that submits at a fixed pace, each declaration with its own
Idempotency-Key, and keeps re-sending the same request until the gateway answers (it may be
dead, restarting, or may have committed and died before answering; a 409 saying the key is
still in flight is retried too). The audit then reads the gateway's list, every
declaration's timeline, and each agency's own records.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx

from schemas.samples import sample_declaration
from singlewindow.spawn import Spawned
from tests.support import wait_for

TERMINAL = {"completed", "rejected", "failed", "cancelled"}

# What must happen exactly once per declaration, by the service whose journal records it.
# Export (phones, no inspection): customs accepts, forex settles, tax refunds.
# Import (perfume): customs accepts, inspection passes, forex registers, tax collects.
ONCE: dict[str, dict[str, str]] = {
    "export": {
        "customs": "customs.declaration.accepted",
        "forex": "forex.receipt.settled",
        "tax": "tax.refund.paid",
    },
    "import": {
        "customs": "customs.declaration.accepted",
        "inspection": "inspection.goods.passed",
        "forex": "forex.payment.registered",
        "tax": "tax.import.collected",
    },
}


def pid_of(system: Spawned, service: str) -> int | None:
    """The pid a service reports on /healthz, or None while it is down."""
    try:
        return int(httpx.get(system.url(service) + "/healthz", timeout=2).json()["pid"])
    except (httpx.HTTPError, ValueError, KeyError):
        return None


def child_pid(system: Spawned, *marks: bytes) -> int | None:
    """The pid of the `up` process's child whose command line holds every mark, if running."""
    pid = system.proc.pid
    with open(f"/proc/{pid}/task/{pid}/children") as f:
        children = f.read().split()
    for child in children:
        try:
            with open(f"/proc/{child}/cmdline", "rb") as f:
                argv = f.read().split(b"\0")
        except OSError:
            continue  # it just exited
        if all(mark in argv for mark in marks):
            return int(child)
    return None


def broker_pid(system: Spawned) -> int | None:
    """The embedded broker's pid: the child running Tansu."""
    return child_pid(system, b"broker", b"--listener-url")


def service_pid(system: Spawned, service: str, replica: int = 1) -> int | None:
    """The pid of a service's process (replica 1, 2, …), as the supervisor started it."""
    port = int(system.url(service).rsplit(":", 1)[1]) + 100 * (replica - 1)
    return child_pid(system, b"singlewindow.serve", service.encode(), str(port).encode())


def _in_flight(resp: httpx.Response) -> bool:
    """A 409 saying a request with the same Idempotency-Key is still being processed."""
    return resp.status_code == 409 and str(resp.json().get("type", "")).endswith(
        "/idempotency-key-in-flight"
    )


def register_enterprise(system: Spawned, admin_token: str, name: str) -> dict[str, Any]:
    """Register an enterprise of the test's own: its id, name and API key."""
    resp = httpx.post(
        system.url("gateway") + "/v1/admin/enterprises",
        json={"name": name},
        headers={"Authorization": f"Bearer {admin_token}"},
        timeout=10,
    )
    assert resp.status_code == 201, resp.text
    return dict(resp.json())


def new_enterprise(system: Spawned, admin_token: str, name: str) -> str:
    """Register an enterprise of the test's own; its API key."""
    return str(register_enterprise(system, admin_token, name)["api_key"])


@dataclass
class SteadyLoad:
    """Submits declarations at `rate_per_s` until stopped or `limit` are accepted."""

    gateway: str
    api_key: str
    rate_per_s: float
    limit: int
    accepted: dict[str, str] = field(default_factory=dict)  # declaration id → direction
    posts: int = 0
    retried: int = 0
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None
    _error: BaseException | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="steady-load", daemon=True)
        self._thread.start()

    def stop(self) -> dict[str, str]:
        """Stop sending; every declaration the gateway accepted, with its direction."""
        self._stop.set()
        if self._thread:
            self._thread.join(timeout=120)
        if self._error:
            raise self._error
        return dict(self.accepted)

    def wait_accepted(self, count: int, timeout_s: float = 60) -> None:
        """Block until at least `count` declarations were accepted."""
        wait_for(
            lambda: len(self.accepted) >= count or self._error is not None,
            timeout_s=timeout_s,
            what=f"{count} declarations accepted",
        )

    def _run(self) -> None:
        try:
            with httpx.Client(
                base_url=self.gateway,
                headers={"Authorization": f"Bearer {self.api_key}"},
                timeout=10,
            ) as client:
                started = time.monotonic()
                n = 0
                while not self._stop.is_set() and len(self.accepted) < self.limit:
                    direction = "import" if n % 3 == 2 else "export"
                    self._submit(client, direction)
                    n += 1
                    # pacing of an open-loop load, not a wait for a condition
                    self._stop.wait(max(0.0, started + n / self.rate_per_s - time.monotonic()))
        except BaseException as exc:  # surfaced by stop()
            self._error = exc

    def _submit(self, client: httpx.Client, direction: str) -> None:
        body = sample_declaration(direction, "0110", "happy")
        key = f"steady-{uuid.uuid4()}"
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            self.posts += 1
            try:
                resp = client.post("/v1/declarations", json=body, headers={"Idempotency-Key": key})
            except httpx.TransportError:
                resp = None  # the gateway is down or died mid-request: the same key again
            if resp is not None and resp.status_code in (200, 202):
                self.accepted[resp.json()["id"]] = direction
                return
            if resp is not None and _in_flight(resp):
                # The gateway died holding the key; its claim lapses after a few seconds.
                resp = None
            if resp is not None and resp.status_code < 500:
                raise AssertionError(f"submit refused: {resp.status_code} {resp.text}")
            self.retried += 1
            # Retry pacing while the gateway restarts; even when stopping, this request's fate
            # must be settled with the same key, so the pause is not cut short.
            time.sleep(0.2)
        raise AssertionError(f"the gateway did not accept {key} within 90 s")


@contextmanager
def steady_load(
    system: Spawned, api_key: str, *, rate_per_s: float = 15, limit: int = 400
) -> Iterator[SteadyLoad]:
    """A running SteadyLoad; stopped on exit."""
    load = SteadyLoad(system.url("gateway"), api_key, rate_per_s, limit)
    load.start()
    try:
        yield load
    finally:
        load.stop()


@dataclass
class Audit:
    """What the services' own records say about a set of declarations."""

    sent: int
    statuses: Counter[str]
    listed: int
    lost: list[str]
    unexpected: list[str]
    duplicated: list[str]

    def summary(self) -> dict[str, Any]:
        return {
            "sent": self.sent,
            "statuses": dict(self.statuses),
            "listed": self.listed,
            "lost": len(self.lost),
            "unexpected": len(self.unexpected),
            "duplicated_effects": len(self.duplicated),
        }


def gateway_client(system: Spawned, api_key: str) -> httpx.Client:
    """An HTTP client of the gateway speaking for the enterprise of `api_key`."""
    return httpx.Client(
        base_url=system.url("gateway"), headers={"Authorization": f"Bearer {api_key}"}, timeout=10
    )


def _all_listed(client: httpx.Client) -> set[str]:
    ids: set[str] = set()
    cursor: str | None = None
    while True:
        params: dict[str, Any] = {"limit": 200, **({"cursor": cursor} if cursor else {})}
        page = client.get("/v1/declarations", params=params).json()
        ids.update(d["id"] for d in page["data"])
        cursor = page["next_cursor"]
        if not cursor:
            return ids


def wait_all_terminal(
    system: Spawned, api_key: str, ids: dict[str, str], timeout_s: float = 180
) -> Counter[str]:
    """Wait until every declaration has a terminal status; the statuses counted."""
    with gateway_client(system, api_key) as client:
        pending = set(ids)
        statuses: Counter[str] = Counter()

        def probe() -> bool:
            for declaration_id in list(pending):
                try:
                    status = client.get(f"/v1/declarations/{declaration_id}").json()["status"]
                except httpx.TransportError:
                    # A gateway killed last may still be restarting (it rejoins its consumer
                    # group before it serves): not yet, ask again.
                    return False
                if status in TERMINAL:
                    statuses[status] += 1
                    pending.discard(declaration_id)
            return not pending

        wait_for(probe, timeout_s=timeout_s, what=f"{len(ids)} declarations to end", every_s=0.5)
        return statuses


def audit(system: Spawned, api_key: str, admin_token: str, ids: dict[str, str]) -> Audit:
    """Each declaration terminal, listed once, each effect once in the gateway's timeline and
    in the journal of the agency that made it."""
    statuses = wait_all_terminal(system, api_key, ids)
    duplicated: list[str] = []
    with gateway_client(system, api_key) as client:
        listed = _all_listed(client)
        for declaration_id, direction in ids.items():
            timeline = client.get(f"/v1/declarations/{declaration_id}/events").json()["data"]
            seen = Counter(e["type"] for e in timeline if e["direction"] == "received")
            for service, effect in ONCE[direction].items():
                journal = httpx.get(
                    f"{system.url(service)}/v1/records/{declaration_id}",
                    headers={"Authorization": f"Bearer {admin_token}"},
                    timeout=10,
                ).json()
                made = [
                    m["id"]
                    for m in journal["messages"]
                    if m["direction"] == "out" and m["type"] == effect
                ]
                if len(made) != 1 or seen[effect] != 1:
                    duplicated.append(
                        f"{declaration_id} {effect}: {len(made)} made, {seen[effect]} seen"
                    )
    return Audit(
        sent=len(ids),
        statuses=statuses,
        listed=len(listed),
        lost=sorted(set(ids) - listed),
        unexpected=sorted(listed - set(ids)),
        duplicated=duplicated,
    )


def respawned(find: Callable[[], int | None], old_pid: int) -> Callable[[], bool]:
    """A probe: the supervisor has started a new process in place of `old_pid`.

    The new one may still be joining its consumer group (a SIGKILLed member lingers for a
    session timeout): the load and the next faults go on meanwhile, as in production.
    """
    return lambda: find() not in (None, old_pid)


def follow_stream(system: Spawned, api_key: str, act: Any, *, until: Any = None) -> str:
    """The text of the enterprise's stream from before `act` until 4 s after it, or until
    `until()` (a string) appears in it, for at most 15 s."""
    received: list[str] = []
    opened = threading.Event()
    acted_at: list[float] = []

    def read() -> None:
        try:
            with httpx.stream(
                "GET",
                system.url("gateway") + "/v1/stream",
                headers={"Authorization": f"Bearer {api_key}"},
                timeout=httpx.Timeout(10, read=4),
            ) as resp:
                opened.set()
                for chunk in resp.iter_text():
                    received.append(chunk)
                    if not acted_at:
                        continue
                    if until is not None and until() in "".join(received):
                        return
                    if time.monotonic() > acted_at[0] + (15 if until is not None else 4):
                        return
        except httpx.ReadTimeout:
            pass  # the stream went quiet: what it had to say is in `received`

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    opened.wait(10)
    act()
    acted_at.append(time.monotonic())
    reader.join(20)
    return "".join(received)
