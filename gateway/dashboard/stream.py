"""The status changes a gateway process sees, fanned out to the page's subscribers.

They come from what the process commits: every transaction's status messages are handed over
after commit (`committed`, told by the outbox relay), with no read of Kafka. Status changes
committed by another gateway replica reach a page through `sw.declarations.status`, which
the hub follows only while one of its streams is open (and a little after, so a page that
reloads finds it still following): a consumer without a group, assigned every partition,
from the end; the messages this process committed itself are skipped there, by id. The
class view (a run's numbers) folds what the hub sees: every change this process commits,
and the other replicas' changes while a page is open.

Each subscriber has a bounded, coalescing buffer: a newer status of a declaration replaces
the older one still waiting, and when a slow page falls behind the oldest waiting
declarations are dropped (and counted), never the process.
A declaration's end (completed, rejected, failed, cancelled) is the last to go: a page may
miss a move under a flood, but not the status its row ends in.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import signal
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import KafkaError

from gateway.dashboard.stats import RunStats
from gateway.saga import TERMINAL
from schemas.topics import STATUS
from services.common.changes import OutRow
from services.common.generations import Follower

log = logging.getLogger(__name__)

ITEM_FIELDS = (
    "direction",
    "trade_mode",
    "status",
    "state",
    "previous_state",
    "trigger",
    "steps",
    "figures",
    "entry_id",
    "channel",
    "customs_status",
    "reason",
)


def to_item(message: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """A status-changed envelope as (enterprise id, the compact item the page draws)."""
    payload = message["payload"]
    item: dict[str, Any] = {
        "id": message["declaration_id"],
        "at": datetime.fromisoformat(message["occurred_at"]).timestamp(),
    }
    for name in ITEM_FIELDS:
        item[name] = payload.get(name)
    return str(payload["enterprise_id"]), item


class Subscription:
    """One page's buffer: at most `limit` declarations waiting, the newest status of each."""

    def __init__(self, enterprise_id: str, limit: int) -> None:
        self.enterprise_id = enterprise_id
        self.limit = limit
        self.dropped = 0
        self._waiting: OrderedDict[str, str] = OrderedDict()
        self._ended: set[str] = set()  # waiting declarations whose status is their end
        self._ready = asyncio.Event()

    def offer(self, key: str, data: str, *, ended: bool = False) -> None:
        """Queue a declaration's latest status, replacing an older one of the same declaration;
        over the limit, the oldest waiting that has not `ended` is dropped (if all have, the
        oldest)."""
        self._waiting.pop(key, None)
        self._waiting[key] = data
        if ended:
            self._ended.add(key)
        else:
            self._ended.discard(key)
        if len(self._waiting) > self.limit:
            victim = next((k for k in self._waiting if k not in self._ended), None)
            if victim is None:
                victim = next(iter(self._waiting))
            del self._waiting[victim]
            self._ended.discard(victim)
            self.dropped += 1
        self._ready.set()

    async def wait(self, timeout_s: float) -> None:
        """Return when something is waiting, or after `timeout_s`."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._ready.wait(), timeout_s)

    def take(self, most: int) -> list[str]:
        """Up to `most` waiting items, oldest first."""
        out: list[str] = []
        while self._waiting and len(out) < most:
            key, data = self._waiting.popitem(last=False)
            self._ended.discard(key)
            out.append(data)
        if not self._waiting:
            self._ready.clear()
        return out


REALIGN_EVERY_S = 2.0
LINGER_S = 10.0  # the topic is followed this long after the last stream closed
MINE = 50_000  # ids of status messages this process committed, remembered to skip them


async def realign(
    consumer: AIOKafkaConsumer, last_ends: dict[TopicPartition, int]
) -> list[TopicPartition]:
    """Rewind the partitions whose end went backwards: the topic was recreated.

    A restarted embedded broker forgets every topic; the status topic comes back empty with its
    offsets starting again at 0, while a follower asks for offsets past its end and hears
    nothing, not an error. An end never decreases otherwise. (Compared with earlier ends, not
    with our position: Tansu may report an end that trails the last record for a while.)
    """
    ends = await consumer.end_offsets(list(last_ends))
    rewound = [tp for tp, end in ends.items() if end < last_ends[tp]]
    for tp in rewound:
        consumer.seek(tp, 0)
    last_ends.update(ends)
    if rewound:
        log.warning("%s was recreated (the broker restarted): following it from its start", STATUS)
    return rewound


class StatusHub:
    """Hands each status change this process commits, and while a page is open the other
    replicas' too, to the subscribers of its enterprise."""

    def __init__(
        self,
        bootstrap: str,
        *,
        buffer_limit: int = 200,
        consumer_factory: Callable[[], AIOKafkaConsumer] | None = None,
        linger_s: float = LINGER_S,
    ) -> None:
        self.bootstrap = bootstrap
        self.buffer_limit = buffer_limit
        self.linger_s = linger_s
        self.ready = asyncio.Event()  # set while the topic is followed
        self.closing = asyncio.Event()  # set when the process is asked to stop: streams end
        self.started_at = time.time()  # an enterprise's first run counts from the process start
        self._factory = consumer_factory or self._consumer
        self._subscribers: dict[str, set[Subscription]] = {}
        self._runs: dict[str, RunStats] = {}
        self._snapshots: dict[str, tuple[float, dict[str, Any]]] = {}
        self._mine: set[str] = set()
        self._mine_order: deque[str] = deque()
        self._task: asyncio.Task[None] | None = None
        self._started = False
        self._idle_since: float | None = None
        self._leaving = False  # the follower decided to end (a new page starts another)

    def _consumer(self) -> AIOKafkaConsumer:
        return AIOKafkaConsumer(
            bootstrap_servers=self.bootstrap,
            group_id=None,
            enable_auto_commit=False,
            auto_offset_reset="latest",
            fetch_max_wait_ms=50,
        )

    @property
    def following(self) -> bool:
        """Whether the status topic is being read (a stream is open, or closed a moment ago)."""
        return self._task is not None and not self._task.done() and not self._leaving

    # --- subscribers and runs ---------------------------------------------------------------

    def subscribe(self, enterprise_id: str) -> Subscription:
        """A new buffer for a page of this enterprise; the topic is followed while it is open."""
        sub = Subscription(enterprise_id, self.buffer_limit)
        self._subscribers.setdefault(enterprise_id, set()).add(sub)
        if self._started and not self.following and not self.closing.is_set():
            self._task = asyncio.create_task(self._follow(), name="status-hub")
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        """Forget a page that went away."""
        subs = self._subscribers.get(sub.enterprise_id)
        if subs is not None:
            subs.discard(sub)
            if not subs:
                del self._subscribers[sub.enterprise_id]

    def run_of(self, enterprise_id: str) -> RunStats:
        """The enterprise's current run (one starts with the process)."""
        run = self._runs.get(enterprise_id)
        if run is None:
            run = self._runs[enterprise_id] = RunStats(started_at=self.started_at)
        return run

    def reset_run(self, enterprise_id: str) -> RunStats:
        """Start a new run for the enterprise: the class view counts from now."""
        self._runs[enterprise_id] = RunStats(started_at=time.time())
        self._snapshots.pop(enterprise_id, None)
        return self._runs[enterprise_id]

    def snapshot(self, enterprise_id: str, *, max_age_s: float = 0.5) -> dict[str, Any]:
        """The run's numbers, computed at most every `max_age_s` per enterprise."""
        cached = self._snapshots.get(enterprise_id)
        now = time.monotonic()
        if cached is not None and now - cached[0] < max_age_s:
            return cached[1]
        snap = self.run_of(enterprise_id).snapshot()
        self._snapshots[enterprise_id] = (now, snap)
        return snap

    def committed(self, rows: Sequence[OutRow]) -> None:
        """After a commit of this process: fold its status messages in (the relay's watcher)."""
        for row in rows:
            if row.topic == STATUS:
                self._mine.add(row.message_id)
                self._mine_order.append(row.message_id)
                self.dispatch(row.value)
        while len(self._mine_order) > MINE:
            self._mine.discard(self._mine_order.popleft())

    def dispatch(self, raw: bytes | None, *, skip_mine: bool = False) -> None:
        """Fold one status message into its run and offer it to the enterprise's pages
        (`skip_mine`: unless this process committed it, i.e. it came from the topic)."""
        try:
            message = json.loads(raw or b"")
            if skip_mine and message.get("id") in self._mine:
                return
            enterprise_id, item = to_item(message)
        except (ValueError, KeyError, TypeError, AttributeError):
            log.warning("unreadable status message skipped")
            return
        self.run_of(enterprise_id).observe(item)
        subs = self._subscribers.get(enterprise_id)
        if subs:
            data = json.dumps(item, separators=(",", ":"), ensure_ascii=False)
            ended = item["status"] in TERMINAL
            for sub in subs:
                sub.offer(item["id"], data, ended=ended)

    # --- the topic, while a page is open ------------------------------------------------------

    def start(self) -> None:
        """Get ready to serve streams (the topic is followed only while one is open)."""
        self._started = True
        self._end_streams_on_exit_signals()

    def _end_streams_on_exit_signals(self) -> None:
        # The server waits for open responses before it runs the lifespan's shutdown, and a
        # page's stream never ends by itself: without this, Ctrl-C waits for the kill timeout.
        # Chain onto the server's own SIGINT/SIGTERM handlers (it restores them when it exits).
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            previous = signal.getsignal(sig)
            if not callable(previous):
                continue

            def handler(signum: int, frame: Any, previous: Any = previous) -> None:
                loop.call_soon_threadsafe(self.closing.set)
                previous(signum, frame)

            try:
                signal.signal(sig, handler)
            except ValueError:  # not the main thread (an in-process test server)
                return

    async def stop(self) -> None:
        """Stop following."""
        self.closing.set()
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def _lingered(self) -> bool:
        """Whether no page has been open for `linger_s` (the follower then ends)."""
        if self._subscribers:
            self._idle_since = None
            return False
        if self._idle_since is None:
            self._idle_since = time.monotonic()
        self._leaving = time.monotonic() - self._idle_since >= self.linger_s
        return self._leaving

    async def _follow(self) -> None:
        self._idle_since, self._leaving = None, False
        while not self._lingered():
            consumer = self._factory()
            try:
                await consumer.start()
                follower = Follower(consumer, [STATUS])
                if not await follower.start():
                    raise KafkaError(f"topic {STATUS} has no partitions yet")
                self.ready.set()
                parts = sorted(consumer.assignment())
                log.info("following %s (%d partitions) for the dashboard", STATUS, len(parts))
                last_ends = await consumer.end_offsets(parts)
                checked = time.monotonic()
                while not self._lingered():
                    await follower.refresh()
                    batches = await consumer.getmany(timeout_ms=200, max_records=2000)
                    for records in batches.values():
                        for record in records:
                            self.dispatch(record.value, skip_mine=True)
                    if time.monotonic() - checked > REALIGN_EVERY_S:
                        now = set(consumer.assignment())
                        last_ends = {tp: end for tp, end in last_ends.items() if tp in now}
                        fresh = sorted(now - set(last_ends))
                        if fresh:  # a new generation: it is read from its start
                            last_ends.update(await consumer.end_offsets(fresh))
                        await realign(consumer, last_ends)
                        checked = time.monotonic()
                log.info("no page open: stopped following %s", STATUS)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("status stream failed; reconnecting")
                await asyncio.sleep(1.0)  # reconnect pacing
            finally:
                self.ready.clear()
                with contextlib.suppress(Exception):
                    await consumer.stop()
