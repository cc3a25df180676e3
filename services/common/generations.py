"""Topic generations: how the embedded broker's memory stays flat under continuous load.

The embedded broker keeps every record in memory and ignores `retention.ms`; deleting a topic
is what gives memory back. So with `SW_TOPIC_GENERATION_S` set, each rotated topic is written
as `<topic>.g<N>` with N = ⌊unix time / period⌋: producers write to the current generation,
consumers follow every generation by pattern, read an older generation's partition to its end
before the same partition of a newer one (order per key is kept), and a generation every
system group has read to its end is deleted. Real brokers keep their own retention: period 0
(the default) leaves the plain topic names and none of this runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.client import AIOKafkaClient
from aiokafka.errors import KafkaError, TopicAlreadyExistsError

from schemas.topics import AGENCIES, CEB_RECEIPTS_GROUP, STATUS, commands, events, rotated
from services.common.tasks import cancel

log = logging.getLogger(__name__)

_GEN = re.compile(r"^(?P<base>.+)\.g(?P<gen>\d+)$")
# The period `singlewindow up` uses with its embedded broker (SW_TOPIC_GENERATION_S unset).
EMBEDDED_PERIOD_S = 120.0
# A generation's partition counts as ended this long after its period, so that a send a
# producer began just before the switch has landed before anyone moves past it.
GRACE_S = 0.5


@dataclass(frozen=True)
class Generations:
    """The naming and clock of generations; `period_s` 0 means off (plain topic names)."""

    period_s: float = 0.0

    @property
    def on(self) -> bool:
        """Whether topics rotate."""
        return self.period_s > 0

    def current(self, now: float | None = None) -> int:
        """The generation producers write to at `now` (unix seconds)."""
        return int((time.time() if now is None else now) // self.period_s) if self.on else 0

    def name(self, base: str, gen: int) -> str:
        """The topic of `base` in generation `gen`."""
        return f"{base}.g{gen}" if self.on else base

    def live(self, base: str, now: float | None = None) -> str:
        """Where a record of `base` is written now (rotated topics only rotate)."""
        return self.name(base, self.current(now)) if self.on and base in rotated() else base

    def ends_at(self, gen: int) -> float:
        """When producers stop writing generation `gen` (unix seconds)."""
        return (gen + 1) * self.period_s


def parse(topic: str) -> tuple[str, int]:
    """The base topic and generation of a topic name; a plain name is generation -1."""
    match = _GEN.match(topic)
    if match is None:
        return topic, -1
    return match["base"], int(match["gen"])


def base_of(topic: str) -> str:
    """The base name of a (possibly generation) topic."""
    return parse(topic)[0]


def pattern(bases: Iterable[str]) -> str:
    """A subscription pattern matching these topics and all their generations."""
    names = "|".join(re.escape(b) for b in sorted(set(bases)))
    return rf"^({names})(\.g\d+)?$"


def forget_old(client: AIOKafkaClient, generations: Generations, gen: int) -> None:
    """Stop a client asking about generations before `gen - 1`. A producer keeps every topic it
    wrote to in each metadata refresh; a deleted generation would stay there for good, an error
    logged at every refresh and a topic set that grows a period at a time."""
    if generations.on:
        forget(client, lambda t: parse(t)[1] < 0 or parse(t)[1] >= gen - 1)


def forget(client: AIOKafkaClient, keep: Callable[[str], bool]) -> None:
    """Stop a client tracking the topics `keep` refuses (see `forget_old`)."""
    tracked = set(client._topics)  # aiokafka has no public getter for the tracked set
    kept = {t for t in tracked if keep(t)}
    if kept and kept != tracked:  # an empty set would mean "every topic" to aiokafka
        client.set_topics(kept)


def held(
    assigned: Iterable[TopicPartition], ended: Callable[[TopicPartition], bool]
) -> set[TopicPartition]:
    """The partitions not to read yet: a newer generation's partition waits until every older
    generation's same partition in `assigned` has `ended` (read to its end, writes over)."""
    by_slot: dict[tuple[str, int], list[tuple[int, TopicPartition]]] = {}
    for tp in assigned:
        base, gen = parse(tp.topic)
        by_slot.setdefault((base, tp.partition), []).append((gen, tp))
    waiting: set[TopicPartition] = set()
    for slot in by_slot.values():
        if len(slot) < 2:
            continue
        slot.sort(key=lambda pair: pair[0])
        for index, (_, tp) in enumerate(slot[:-1]):
            if not ended(tp):
                waiting.update(t for _, t in slot[index + 1 :])
                break
    return waiting


def readers(base: str, group_of: Callable[[str], str]) -> tuple[str, ...]:
    """The system's consumer groups that must read a generation of `base` before it goes."""
    for agency in AGENCIES:
        if base == commands(agency):
            return (group_of(agency),)
        if base == events(agency):
            return (group_of("gateway"),)
    if base == STATUS:
        return (CEB_RECEIPTS_GROUP,)
    return ()


class Gate:
    """Pauses a consumer's newer-generation partitions until the older one is read through."""

    def __init__(self, generations: Generations) -> None:
        self.generations = generations
        self._paused: set[TopicPartition] = set()
        self._assigned: frozenset[TopicPartition] = frozenset()
        self._layered = False

    def apply(
        self, consumer: AIOKafkaConsumer, position: Callable[[TopicPartition], int | None]
    ) -> None:
        """Pause what must wait, resume what may go on (call before each fetch)."""
        assigned = frozenset(consumer.assignment())
        if assigned != self._assigned:  # a rebalance: are two generations assigned at once?
            self._assigned = assigned
            slots = {(parse(tp.topic)[0], tp.partition) for tp in assigned}
            self._layered = len(slots) < len(assigned)
        if not self._layered and not self._paused:
            return
        now = time.time()

        def ended(tp: TopicPartition) -> bool:
            _, gen = parse(tp.topic)
            if gen >= 0 and now < self.generations.ends_at(gen) + GRACE_S:
                return False
            highwater, at = consumer.highwater(tp), position(tp)
            return highwater is not None and at is not None and at >= highwater

        wait = held(assigned, ended) if self._layered else set()
        go = (self._paused & assigned) - wait
        if go:
            consumer.resume(*go)
        if wait:
            consumer.pause(*wait)
        self._paused = wait


class Rotator:
    """Creates the next generation and deletes drained old ones at mid-period: one change a
    period, so consumer groups rebalance once a period. `prepare` makes sure of a generation
    before a producer's first record in it."""

    def __init__(
        self,
        *,
        generations: Generations,
        admin: Callable[[], AIOKafkaAdminClient],
        checker: Callable[[str], AIOKafkaConsumer],
        group_of: Callable[[str], str],
        partitions: int,
        replication: int,
        extra_groups: Mapping[str, tuple[str, ...]] | None = None,
        claim: Callable[[], Awaitable[bool]] | None = None,
    ) -> None:
        self.generations = generations
        self.admin = admin
        self.checker = checker
        self.group_of = group_of
        self.partitions = partitions
        self.replication = replication
        self.extra_groups = extra_groups or {}
        # Replicas share the turn: the one whose claim takes does it (None: always this one).
        self.claim = claim
        self._task: asyncio.Task[None] | None = None
        self._made: set[int] = set()

    async def prepare(self, gen: int) -> None:
        """Make sure generation `gen` exists before anything is written to it (the turn at
        mid-period made it already, unless that turn failed)."""
        if gen in self._made:
            return
        admin = self.admin()
        await admin.start()
        try:
            await create(admin, self.generations, [gen], self.partitions, self.replication)
        finally:
            await admin.close()
        self._made.add(gen)

    def start(self) -> None:
        """Start turning (the lifespan owns the task)."""
        self._task = asyncio.create_task(self._run(), name="topic-generations")

    async def stop(self) -> None:
        """Stop turning."""
        await cancel(self._task)

    async def _run(self) -> None:
        period = self.generations.period_s
        while True:
            now = time.time()
            mid = (self.generations.current(now) + 0.5) * period
            wait = mid - now if mid > now else mid + period - now
            await asyncio.sleep(wait)  # the clock is the condition: every process turns at once
            try:
                if self.claim is None or await self.claim():
                    await self.turn()
            except (KafkaError, OSError):
                log.warning("topic generations: this turn failed; next period", exc_info=True)

    async def turn(self, now: float | None = None) -> list[str]:
        """Create the generations up to the one after next; delete older ones every reader
        finished. Returns the topics deleted.

        A group member may rebalance on this very change before its metadata shows the new
        topics; made a period ahead, they are in the next turn's rebalance, before any use."""
        now = time.time() if now is None else now
        gen = self.generations.current(now)
        admin = self.admin()
        await admin.start()
        try:
            ahead = [gen, gen + 1, gen + 2]
            await create(admin, self.generations, ahead, self.partitions, self.replication)
            self._made.update(ahead)
            old = sorted(
                t
                for t in await admin.list_topics()
                if parse(t)[0] in rotated() and 0 <= parse(t)[1] < gen
            )
            gone = [t for t in old if await self._drained(t)]
            if gone:
                await admin.delete_topics(gone)
                log.info("topic generations: deleted %s", ", ".join(gone))
            return gone
        finally:
            await admin.close()

    async def _drained(self, topic: str) -> bool:
        """Whether every group that reads this topic committed past its last record."""
        base = parse(topic)[0]
        groups = (*readers(base, self.group_of), *self.extra_groups.get(base, ()))
        for group in groups:
            consumer = self.checker(group)
            await consumer.start()
            try:
                await consumer.topics()  # a metadata request: the topic's partitions
                ids = sorted(consumer.partitions_for_topic(topic) or ())
                parts = [TopicPartition(topic, p) for p in ids]
                if not parts:
                    continue
                consumer.assign(parts)
                ends = await consumer.end_offsets(parts)
                for tp in parts:
                    if ends[tp] and (await consumer.committed(tp) or 0) < ends[tp]:
                        return False
            finally:
                await consumer.stop()
        return True


async def create(
    admin: AIOKafkaAdminClient,
    generations: Generations,
    gens: Iterable[int],
    partitions: int,
    replication: int,
) -> None:
    """Create the rotated topics of these generations that are missing."""
    existing = set(await admin.list_topics())
    missing = [
        generations.name(base, gen)
        for gen in gens
        for base in rotated()
        if generations.name(base, gen) not in existing
    ]
    if missing:
        with contextlib.suppress(TopicAlreadyExistsError):
            await admin.create_topics([NewTopic(t, partitions, replication) for t in missing])


async def layout(consumer: AIOKafkaConsumer) -> dict[str, frozenset[int]]:
    """Every topic on the broker and its partitions, asked now. (A consumer's own metadata
    covers only the topics it follows, so it would never see a new generation.)"""
    cluster = await consumer._client.fetch_all_metadata()
    return {t: frozenset(cluster.partitions_for_topic(t) or ()) for t in cluster.topics()}


class Follower:
    """A reader outside any group that follows topics and every generation of them, by
    assignment: positioned at the end (or start) of what exists when it starts, it reads a
    generation that appears later from its start and forgets one that is deleted."""

    def __init__(
        self, consumer: AIOKafkaConsumer, bases: Iterable[str], *, from_start: bool = False
    ) -> None:
        self.consumer = consumer
        self.bases = frozenset(bases)
        self.from_start = from_start
        self._looked = 0.0

    async def start(self) -> bool:
        """Assign and position; False if none of the topics exists yet."""
        await self._look(first=True)
        return bool(self.consumer.assignment())

    async def refresh(self, every_s: float = 2.0) -> None:
        """Pick up new generations and drop deleted ones (at most every `every_s`)."""
        if time.monotonic() - self._looked >= every_s:
            await self._look(first=False)

    async def _look(self, *, first: bool) -> None:
        self._looked = time.monotonic()
        consumer = self.consumer
        wanted = {
            TopicPartition(t, p)
            for t, parts in (await layout(consumer)).items()
            if base_of(t) in self.bases
            for p in parts
        }
        had = set(consumer.assignment())
        if wanted == had:
            return
        kept = {tp: await consumer.position(tp) for tp in had & wanted}
        consumer.assign(sorted(wanted, key=lambda tp: (parse(tp.topic), tp.partition)))
        for tp, offset in kept.items():
            consumer.seek(tp, offset)
        new = sorted(wanted - had)
        if not new:
            return
        if first and not self.from_start:
            await consumer.seek_to_end(*new)
        else:
            await consumer.seek_to_beginning(*new)
        for tp in new:
            await consumer.position(tp)  # resolve now: a later reset must not skip records


async def partitions_of(consumer: AIOKafkaConsumer, base: str) -> list[TopicPartition]:
    """Every partition of topic `base` and of each of its generations on the broker now."""
    topics = await layout(consumer)
    return [
        TopicPartition(t, p)
        for t in sorted(topics, key=parse)
        if base_of(t) == base
        for p in sorted(topics[t])
    ]
