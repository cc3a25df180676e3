"""Driving load: open model (arrivals on a fixed schedule) and closed model (N clients)."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from schemas.topics import AGENCIES
from services.common import http1 as http
from services.common.tasks import cancel
from singlewindow.load.listener import LagSampler, StatusListener
from singlewindow.load.plan import MixEntry, body_for, choose
from singlewindow.load.recorder import Recorder
from singlewindow.resources.gauge import Gauge

TERMINAL = frozenset({"completed", "rejected", "failed", "cancelled"})
EARLY_LIMIT = 100_000


log = logging.getLogger(__name__)
SAMPLE_TIMEOUT_S = 3.0


@dataclass
class Track:
    """One declaration in flight: when it was meant to be sent, and its last status time."""

    intended: float
    kind: str
    last_at: float
    done: asyncio.Future[str] | None = None


@dataclass
class LoadConfig:
    """Where to send and how long to wait."""

    gateway: str
    api_key: str
    bootstrap: str
    completion_timeout_s: float = 30.0
    connections: int = 64
    seed: int = 1
    batch: int = 1  # declarations a request: above 1, through POST /v1/declarations/batch
    sample_every_s: float = 5.0  # how often the gauge reads the processes and databases


@dataclass
class LoadRun:
    """One run: sends declarations, follows their status, records everything."""

    config: LoadConfig
    recorder: Recorder = field(default_factory=Recorder)
    tracks: dict[str, Track] = field(default_factory=dict)
    early: dict[str, list[tuple[str, str, float, float]]] = field(default_factory=dict)
    t0: float = 0.0
    sent_count: int = 0
    # References are unique per enterprise: each run numbers its own (load-<run>-<seq>).
    run_id: str = field(default_factory=lambda: secrets.token_hex(4))
    on_tick: Callable[[dict[str, Any]], None] | None = None
    gauge: Gauge | None = None
    _idle: asyncio.Event = field(default_factory=asyncio.Event)

    def _now(self) -> float:
        return time.monotonic()

    def on_status(self, declaration_id: str, status: str, trigger: str, at: float) -> None:
        """A status message arrived (it may beat the POST's own answer)."""
        track = self.tracks.get(declaration_id)
        if track is None:
            if len(self.early) < EARLY_LIMIT:
                self.early.setdefault(declaration_id, []).append((status, trigger, at, self._now()))
            return
        self._apply(declaration_id, track, status, trigger, at, self._now())

    def _apply(
        self,
        declaration_id: str,
        track: Track,
        status: str,
        trigger: str,
        at: float,
        received: float,
    ) -> None:
        agency = trigger.split(".", 1)[0]
        if agency in AGENCIES:
            self.recorder.stage(agency, max(at - track.last_at, 0.0))
            track.last_at = at
        if status in TERMINAL:
            del self.tracks[declaration_id]
            if not self.tracks:
                self._idle.set()
            self.recorder.completed(
                received - self.t0, received - track.intended, status, track.kind
            )
            if track.done and not track.done.done():
                track.done.set_result(status)

    async def _submit(
        self,
        pool: http.Pool,
        intended: float,
        entry: MixEntry,
        seq: int,
        done: asyncio.Future[str] | None = None,
    ) -> str | None:
        ids = await self._submit_many(pool, intended, [(entry, seq)], done)
        return ids[0] if ids else None

    async def _submit_many(
        self,
        pool: http.Pool,
        intended: float,
        batch: list[tuple[MixEntry, int]],
        done: asyncio.Future[str] | None = None,
    ) -> list[str]:
        """One request: a declaration, or several through the batch route (all or none)."""
        for _ in batch:
            self.recorder.sent(intended - self.t0)
        self.sent_count += len(batch)
        bodies = [body_for(entry, f"load-{self.run_id}-{seq}") for entry, seq in batch]
        single = len(batch) == 1 and self.config.batch == 1
        try:
            # The pool's `connections` connections bound how many requests are in flight.
            if single:
                resp = await pool.post_json("/v1/declarations", bodies[0])
            else:
                resp = await pool.post_json("/v1/declarations/batch", {"declarations": bodies})
        except http.TimeoutException:
            return self._failed(len(batch), "http_timeout")
        except http.HTTPError as exc:
            return self._failed(len(batch), f"http_{type(exc).__name__}")
        now = self._now()
        if resp.status_code != 202:
            return self._failed(len(batch), f"http_{resp.status_code}")
        answer = resp.json()
        ids = [str(answer["id"])] if single else [str(d["id"]) for d in answer["data"]]
        for declaration_id, (entry, _) in zip(ids, batch, strict=True):
            self.recorder.accepted(now - self.t0, now - intended)
            track = Track(intended, entry.label, resp.sent_at, done)
            self.tracks[declaration_id] = track
            self._idle.clear()
            for status, trigger, at, received in self.early.pop(declaration_id, []):
                if declaration_id in self.tracks:
                    self._apply(declaration_id, track, status, trigger, at, received)
        return ids

    def _failed(self, count: int, kind: str) -> list[str]:
        for _ in range(count):
            self.recorder.error(self._now() - self.t0, kind)
        return []

    async def run_open(self, send_times: list[float], mix: tuple[MixEntry, ...]) -> None:
        """Send on the schedule whatever the system's speed; latency counts from the schedule."""
        kinds = choose(mix, len(send_times), self.config.seed)
        async with self._session() as pool:
            tasks: set[asyncio.Task[Any]] = set()
            self.t0 = self._now() + 0.2
            size = max(1, self.config.batch)
            # A batch goes at its first declaration's time, which all of it counts from.
            for first in range(0, len(send_times), size):
                offset = send_times[first]
                delay = self.t0 + offset - self._now()
                if delay > 0:
                    await asyncio.sleep(delay)  # the arrival schedule, not a wait for a condition
                batch = [(kinds[i], i) for i in range(first, min(first + size, len(send_times)))]
                task = asyncio.create_task(self._submit_many(pool, self.t0 + offset, batch))
                tasks.add(task)
                task.add_done_callback(tasks.discard)
            if tasks:
                await asyncio.gather(*tasks)
            await self._drain()

    async def run_closed(self, clients: int, duration_s: float, mix: tuple[MixEntry, ...]) -> None:
        """N clients, each submitting the next declaration when its last one ends."""
        kinds = itertools.cycle(choose(mix, 10_000, self.config.seed))
        seq = itertools.count()
        loop = asyncio.get_running_loop()

        async def client_loop(pool: http.Pool) -> None:
            while self._now() - self.t0 < duration_s:
                done: asyncio.Future[str] = loop.create_future()
                if await self._submit(pool, self._now(), next(kinds), next(seq), done) is None:
                    continue
                try:
                    await asyncio.wait_for(done, self.config.completion_timeout_s)
                except TimeoutError:
                    self.recorder.error(self._now() - self.t0, "completion_timeout")

        async with self._session() as pool:
            self.t0 = self._now()
            await asyncio.gather(*(client_loop(pool) for _ in range(clients)))
        self._expire_remaining()

    async def _drain(self) -> None:
        """Wait until every declaration sent has ended, or the completion timeout."""
        if self.tracks:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._idle.wait(), self.config.completion_timeout_s)
        self._expire_remaining()

    def _expire_remaining(self) -> None:
        for declaration_id in list(self.tracks):
            del self.tracks[declaration_id]
            self.recorder.error(self._now() - self.t0, "completion_timeout")

    @contextlib.asynccontextmanager
    async def _session(self):  # type: ignore[no-untyped-def]
        listener = StatusListener(self.config.bootstrap, self.on_status)
        sampler = LagSampler(self.config.bootstrap)
        await listener.start()
        try:
            await sampler.start()
        except Exception:
            sampler = None  # type: ignore[assignment]
        # The load tool shares the machine it measures: its submissions go through a lean
        # HTTP/1.1 pool (services/common/http1.py), not httpx, to take less CPU from it.
        pool = http.Pool(
            self.config.gateway,
            connections=self.config.connections,
            timeout=30,
            headers={"Authorization": f"Bearer {self.config.api_key}"},
        )
        ticker = asyncio.create_task(self._tick(sampler))
        try:
            yield pool
        finally:
            await cancel(ticker)
            await pool.aclose()
            await listener.stop()
            if sampler:
                await sampler.stop()

    async def _tick(self, sampler: LagSampler | None) -> None:
        sampled_at = -self.config.sample_every_s
        while True:
            await asyncio.sleep(1.0)  # the sampling period
            t = self._now() - self.t0
            if self.gauge and t - sampled_at >= self.config.sample_every_s:
                self.gauge.sample(t)
                sampled_at = t
            self.recorder.in_flight.append((t, len(self.tracks)))
            lag: dict[str, int] = {}
            if sampler:
                # A sample that meets a topic generation being deleted is skipped, not waited
                # out (a request to a gone topic retries until its timeout).
                try:
                    lag = await asyncio.wait_for(sampler.sample(), timeout=SAMPLE_TIMEOUT_S)
                    self.recorder.lag.append({"t": round(t, 1), **lag})
                except Exception as exc:  # never let the measurement stop the run
                    log.info("consumer lag not sampled at %.0fs (%r); next tick", t, exc)
            if self.on_tick:
                self.on_tick(
                    {
                        "t": t,
                        "sent": self.sent_count,
                        "in_flight": len(self.tracks),
                        "completed": self.recorder.completion.get_total_count(),
                        "errors": sum(self.recorder.errors.values()),
                        "lag": sum(lag.values()),
                    }
                )
