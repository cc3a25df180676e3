"""The sender loop: posts due deliveries, signed, and records every attempt.

Each pass claims the due deliveries from the database under a short lease (a delivery is
pending until an attempt of it is recorded, so a process killed mid-send leaves its claims to
fall due again within seconds, and the restarted one sends them) and gives each endpoint with
work one task. That task posts each declaration's deliveries one after the other, earliest
first, and up to `parallel` declarations side by side; its attempts are recorded together in
one transaction. A healthy receiver thus gets a declaration's events in the order they
happened, and one endpoint's slow or dead receiver delays only itself. A failure (a timeout of
the whole exchange, a refused connection, a non-2xx answer) is retried after an exponential,
jittered backoff until the delivery's attempts run out; then it is `failed` until someone
redelivers it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import defaultdict
from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Histogram

from gateway.webhooks import store
from gateway.webhooks.rules import SIGNATURE_HEADER, backoff_s, jitter, signature_header
from gateway.webhooks.store import AttemptResult, Due
from services.common import http1
from services.common.database import Database

log = logging.getLogger(__name__)

USER_AGENT = "singlewindow-webhooks/1.0"
EXCERPT = 200


@dataclass(frozen=True)
class WebhookConfig:
    """The sender's settings (SW_WEBHOOK_*)."""

    timeout_s: float = 5.0
    max_attempts: int = 8
    backoff_s: float = 2.0
    backoff_max_s: float = 600.0


def headers_of(due: Due, timestamp: int) -> dict[str, str]:
    """The headers of one attempt."""
    return {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "SW-Event-Id": due.event_id,
        "SW-Event-Type": due.event_type,
        "SW-Delivery-Id": due.delivery_id,
        "SW-Delivery-Attempt": str(due.attempt),
        SIGNATURE_HEADER: signature_header(due.secret, timestamp, due.body),
    }


class WebhookSender:
    """Delivers stored deliveries on a timer, or at once when woken."""

    def __init__(
        self,
        db: Database,
        config: WebhookConfig,
        *,
        every_s: float = 0.25,
        batch: int = 500,
        per_endpoint: int = 200,
        parallel: int = 16,
        registry: CollectorRegistry | None = None,
    ) -> None:
        self.db = db
        self.config = config
        self.every_s = every_s
        self.batch = batch
        self.per_endpoint = per_endpoint
        self.parallel = parallel
        # A claim is held this long: two attempts' time and a margin. A process that dies
        # holding deliveries therefore leaves them due again within seconds.
        self.lease_s = 2 * config.timeout_s + 5
        self.attempts = Counter(
            "sw_webhook_attempts_total",
            "Webhook POSTs, by what became of the delivery (succeeded, pending, failed, gone)",
            ["outcome"],
            registry=registry,
        )
        for outcome in ("succeeded", "pending", "failed", "gone"):
            self.attempts.labels(outcome)  # exported at 0 from the start, so queries find them
        self.attempt_seconds = Histogram(
            "sw_webhook_attempt_seconds",
            "Time a webhook receiver took to answer (or to fail)",
            registry=registry,
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
        )
        self._busy: set[str] = set()
        self._workers: set[asyncio.Task[None]] = set()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._client: http1.Client | None = None

    def start(self) -> None:
        """Start sending."""
        # The lean HTTP/1.1 client (services/common/http1.py), not httpx: a POST through httpx
        # took several times the CPU (bench/webhook_cpu.py). Keep-alive connections per
        # receiver's origin, up to 4 × `parallel` each; redirects are not followed (a 3xx is
        # a failed attempt), and no proxy settings are read from the environment.
        self._client = http1.Client(connections=4 * self.parallel, timeout=self.config.timeout_s)
        self._task = asyncio.create_task(self._run(), name="webhook-sender")

    async def stop(self) -> None:
        """Stop sending; an attempt cut short is made again by the next process."""
        tasks = [t for t in (self._task, *self._workers) if t is not None]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._client is not None:
            await self._client.aclose()

    def wake(self) -> None:
        """Look for due deliveries now (new ones were queued)."""
        self._wake.set()

    async def _run(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.every_s)  # the retry clock's tick
            self._wake.clear()
            try:
                await self.dispatch(time.time())
            except Exception:
                log.exception("webhook dispatch failed; will retry")

    async def dispatch(self, now: float) -> int:
        """Start a worker for each idle endpoint with due deliveries; return how many were due."""
        busy = set(self._busy)
        lease_until = now + self.lease_s
        due = await self.db.write(
            lambda conn: store.claim_due(
                conn,
                now=now,
                busy=busy,
                limit=self.batch,
                per_endpoint=self.per_endpoint,
                lease_until=lease_until,
            )
        )
        per_endpoint: dict[str, list[Due]] = defaultdict(list)
        for d in due:
            per_endpoint[d.endpoint_id].append(d)
        for endpoint_id, work in per_endpoint.items():
            self._busy.add(endpoint_id)
            task = asyncio.create_task(
                self._serve(endpoint_id, work, lease_until), name=f"webhook-{endpoint_id}"
            )
            self._workers.add(task)
            task.add_done_callback(self._workers.discard)
        return len(due)

    async def _serve(self, endpoint_id: str, work: list[Due], lease_until: float) -> None:
        """Send an endpoint's batch: each declaration's events in order, declarations side by side."""
        chains: dict[str, list[Due]] = defaultdict(list)
        for due in work:
            chains[due.declaration_id].append(due)
        gate = asyncio.Semaphore(self.parallel)
        outcomes: list[tuple[Due, AttemptResult, float | None]] = []
        sent: set[str] = set()

        async def chain(dues: list[Due]) -> None:
            async with gate:
                for due in dues:
                    if time.time() + self.config.timeout_s > lease_until - 1:
                        return  # the claim would run out mid-attempt: leave the rest for later
                    result = await self.attempt(due)
                    outcomes.append((due, result, self.retry_at(due, result)))
                    sent.add(due.delivery_id)

        try:
            await asyncio.gather(*(chain(c) for c in chains.values()))
        finally:
            unsent = [d.delivery_id for d in work if d.delivery_id not in sent]
            try:
                await self.record(outcomes, unsent)
            except Exception:
                log.exception("recording webhook attempts of %s failed", endpoint_id)
            self._busy.discard(endpoint_id)
            self._wake.set()  # more may be due for this endpoint

    async def attempt(self, due: Due) -> AttemptResult:
        """POST one delivery and say how it went (never raises for the receiver's faults)."""
        assert self._client is not None, "sender not started"
        started = time.time()
        clock = time.perf_counter()

        def took() -> float:
            return round((time.perf_counter() - clock) * 1000, 1)

        try:
            async with asyncio.timeout(self.config.timeout_s):  # the whole exchange, not each read
                response = await self._client.post(due.url, due.body, headers_of(due, int(started)))
        except (TimeoutError, http1.TimeoutException):
            return AttemptResult(started, took(), error=f"timeout after {self.config.timeout_s:g}s")
        except http1.HTTPError as exc:
            return AttemptResult(started, took(), error=f"{type(exc).__name__}: {exc}"[:500])
        excerpt = response.text[:EXCERPT] if response.content else None
        error = None if response.is_success else f"HTTP {response.status_code}"
        return AttemptResult(started, took(), response.status_code, error, excerpt)

    def retry_at(self, due: Due, result: AttemptResult) -> float | None:
        """When to try a failed attempt again; None after a success or the last attempt."""
        if result.ok or due.attempt >= due.max_attempts:
            return None
        wait = backoff_s(
            due.attempt,
            base_s=self.config.backoff_s,
            cap_s=self.config.backoff_max_s,
            jitter=jitter(due.delivery_id, due.attempt),
        )
        return result.at + result.duration_ms / 1000 + wait

    async def record(
        self, outcomes: list[tuple[Due, AttemptResult, float | None]], unsent: list[str]
    ) -> None:
        """Store a batch's attempts in one transaction, and release what it did not send."""
        if not outcomes and not unsent:
            return
        statuses = await self.db.write(
            lambda conn: store.settle(conn, outcomes, unsent, now=time.time())
        )
        for (due, result, _), status in zip(outcomes, statuses, strict=True):
            self.attempts.labels(status or "gone").inc()
            self.attempt_seconds.observe(result.duration_ms / 1000)
            log.log(
                logging.DEBUG if result.ok else logging.WARNING,
                "webhook %s attempt %d to %s: %s → %s",
                due.delivery_id,
                due.attempt,
                due.endpoint_id,
                result.status_code if result.error is None else result.error,
                status,
            )
