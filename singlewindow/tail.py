"""`singlewindow events`: the messages on the topics as they pass, what `kcat -C` shows.

The public status topic by default; with every agency's command and event topics too when
asked. It reads without a consumer group (assigned partitions, no commits), so it never takes
messages from, or rebalances, the services it watches.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import KafkaConnectionError
from aiokafka.structs import ConsumerRecord
from rich.text import Text

from schemas.topics import AGENCIES, STATUS, commands, events
from services.common.bus import make_reader
from services.common.generations import Follower, base_of
from services.common.settings import Settings
from singlewindow.loop import run as run_loop

Envelope = dict[str, Any]


class NotThere(Exception):
    """The broker or a topic to follow is not there."""


def envelopes_in(value: bytes | None) -> list[Envelope]:
    """The envelopes one record carries: one JSON envelope, or a JSON array of them (internal
    topics may frame a relay's flush to one partition as one record). Raises ValueError."""
    decoded = json.loads(value or b"")
    found = decoded if isinstance(decoded, list) else [decoded]
    if not all(isinstance(e, dict) and "type" in e and "id" in e for e in found):
        raise ValueError("not an envelope nor an array of envelopes")
    return found


def topics_to_follow(*, agencies: bool) -> list[str]:
    """The status topic, and with `agencies` each agency's command and event topics."""
    per_agency = [t for a in AGENCIES for t in (commands(a), events(a))] if agencies else []
    return [STATUS, *per_agency]


@dataclass(frozen=True)
class Filter:
    """Which envelopes to show: types as shell patterns (`tax.*`), declarations by id or its end."""

    types: tuple[str, ...] = ()
    declarations: tuple[str, ...] = ()

    def admits(self, envelope: Envelope) -> bool:
        """True if the envelope passes every filter given."""
        kind = str(envelope.get("type", ""))
        ident = str(envelope.get("declaration_id", ""))
        return (not self.types or any(fnmatchcase(kind, p) for p in self.types)) and (
            not self.declarations or any(ident.endswith(d) for d in self.declarations)
        )


@dataclass(frozen=True)
class Seen:
    """One envelope read, or one record that held none readable (`error`)."""

    topic: str
    partition: int
    offset: int
    envelope: Envelope | None = None
    error: str | None = None


@dataclass(frozen=True)
class Follow:
    """What to read and for how long."""

    topics: tuple[str, ...]
    only: Filter = Filter()
    follow: bool = False  # keep reading new records; else stop at the end seen at the start
    from_beginning: bool = False  # with `follow`: read what is there first
    limit: int | None = None  # stop after this many envelopes shown
    seconds: float | None = None  # stop after this long


async def read(
    settings: Settings,
    plan: Follow,
    show: Callable[[Seen], None],
    ready: Callable[[], None] = lambda: None,
) -> int:
    """Show every envelope the plan admits, in each partition's order; return how many.

    `ready` is called once every partition has its starting position: from then on nothing
    published is missed."""
    consumer = make_reader(settings, fetch_max_wait_ms=500)
    try:
        try:
            await consumer.start()
        except KafkaConnectionError as exc:
            raise NotThere(f"no broker at {settings.kafka_bootstrap} (is the system up?)") from exc
        # Every generation of the topics (services/common/generations.py), positioned now.
        from_start = plan.from_beginning or not plan.follow
        follower = Follower(consumer, plan.topics, from_start=from_start)
        if not await follower.start():
            raise NotThere(f"topics {', '.join(plan.topics)} not found (is the system up?)")
        parts = sorted(consumer.assignment())
        ends = None if plan.follow else await consumer.end_offsets(parts)
        ready()
        return await _drain(consumer, plan, ends, show, follower)
    finally:
        await consumer.stop()


async def _drain(
    consumer: AIOKafkaConsumer,
    plan: Follow,
    ends: dict[TopicPartition, int] | None,
    show: Callable[[Seen], None],
    follower: Follower,
) -> int:
    shown = 0
    stop_at = None if plan.seconds is None else time.monotonic() + plan.seconds
    while True:
        if ends is not None and all(await _reached(consumer, ends)):
            return shown
        if ends is None:
            await follower.refresh()
        wait_s = 0.5 if stop_at is None else max(0.0, min(0.5, stop_at - time.monotonic()))
        batches = await consumer.getmany(timeout_ms=int(wait_s * 1000))
        # One fetch holds several partitions' records: shown in the order they were produced.
        records = sorted(
            (r for rs in batches.values() for r in rs), key=lambda r: (r.timestamp, r.offset)
        )
        for record in records:
            for seen in _seen(record):
                if seen.envelope is not None and not plan.only.admits(seen.envelope):
                    continue
                show(seen)
                shown += seen.envelope is not None
                if plan.limit is not None and shown >= plan.limit:
                    return shown
        if stop_at is not None and time.monotonic() >= stop_at:
            return shown


async def _reached(consumer: AIOKafkaConsumer, ends: dict[TopicPartition, int]) -> list[bool]:
    return [await consumer.position(tp) >= end for tp, end in ends.items()]


def _seen(record: ConsumerRecord[bytes, bytes]) -> list[Seen]:
    where = (record.topic, record.partition, record.offset)
    try:
        return [Seen(*where, envelope=e) for e in envelopes_in(record.value)]
    except ValueError as exc:  # json's errors are ValueErrors too
        return [Seen(*where, error=f"unreadable record: {exc}")]


def run(
    settings: Settings,
    plan: Follow,
    show: Callable[[Seen], None],
    ready: Callable[[], None] = lambda: None,
) -> int:
    """`read` on the services' event loop, until the plan's end or Ctrl-C."""
    try:
        return run_loop(read(settings, plan, show, ready))
    except KeyboardInterrupt:
        return 0


STYLES = {"customs": "blue", "inspection": "magenta", "forex": "green", "tax": "yellow"}


def line_of(seen: Seen) -> Text:
    """One envelope as a line: time, where it went, type, declaration and what it says."""
    line = Text()
    if seen.envelope is None:
        line.append(f"{seen.topic}[{seen.partition}]@{seen.offset} {seen.error}", style="red")
        return line
    env = seen.envelope
    topic = base_of(seen.topic)  # a generation's records are its topic's
    agency = topic.split(".")[1] if topic != STATUS else ""
    where = (
        "status" if not agency else f"→ {agency}" if topic == commands(agency) else f"← {agency}"
    )
    line.append(str(env.get("occurred_at", ""))[11:23].ljust(13), style="dim")
    line.append(where.ljust(13), style=STYLES.get(agency, "bold"))
    line.append(
        str(env["type"]).ljust(34), style=STYLES.get(str(env["type"]).split(".")[0], "bold")
    )
    line.append(str(env.get("declaration_id", "")).ljust(38))
    line.append(summary(env))
    return line


def summary(env: Envelope) -> str:
    """What an envelope says, in a few words: a status change, or its payload's plain fields."""
    payload = env.get("payload") or {}
    if env["type"] == "declaration.status.changed":
        said = f"{payload.get('status')}: {payload.get('previous_state') or '·'} → {payload.get('state')}"
        return said + (f"  ({payload['reason']})" if payload.get("reason") else "")
    plain = [f"{k}={v}" for k, v in payload.items() if isinstance(v, str | int | float) and v != ""]
    return " ".join(plain[:4])
