"""The skeleton: one declaration's messages and nothing else, through plain aiokafka processes.

The raw chain answers "what does this broker carry through N hops"; the skeleton answers "what
is the most any implementation of this flow could reach on this machine": the same processes
(a gateway and four agencies), the same topics, and for each export 0110 declaration the
messages of the flow, of the sizes given, with no database, no validation, no HTTP and no
decisions. Each process consumes a batch, produces what follows each message, waits for the
broker's acknowledgements and commits, as the raw chain's hops do.

It models two shapes of the flow (`Shape`, chosen with `--shape`):
- `old`, the flow before issue 15: customs is told to file, release and close (3 commands and
  3 events), one Kafka record per envelope, envelopes of 600 B and status records of 1,000 B
  (16 records, about 12 KB a declaration), and the gateway reads its own status topic twice
  more (its dashboard hub and its webhook intake);
- `new`, the flow after it: customs answers one filing with accepted, released and closed
  together, the internal topics carry a flush's envelopes a partition in one record (a
  length-prefixed frame), small envelopes (under 3 KB a declaration); the public status topic
  keeps one record per event and only the driver (standing for outside readers) reads it.

The driver stands where the gateway's HTTP route and the load tool stand: it produces each
declaration's first status message and first command (what a submission's transaction puts in
the outbox), and reads the status topic for the last one, as the load tool does.
"""

from __future__ import annotations

import argparse
import asyncio
import struct
import time
import zlib
from collections import defaultdict
from dataclasses import dataclass, replace

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from singlewindow.bench.chain import Batches, consume_produce, producer
from singlewindow.loop import run as run_loop

PARTITIONS = 2  # the system's default partitions a topic
AGENCIES = ("customs", "inspection", "forex", "tax")
STATUS = "skeleton.status"
DONE = b"D"
Out = list[tuple[str, bytes, bytes]]  # (topic, key, value)


@dataclass(frozen=True)
class Shape:
    """What the flow puts on the bus for one happy export 0110 declaration."""

    name: str
    customs_at_once: bool  # customs answers one filing with accepted, released and closed
    frame: bool  # internal topics: a batch's envelopes a partition in one record
    command_bytes: int
    event_bytes: int
    status_bytes: int
    status_readers: int  # the gateway's own readers of the status topic (old: dashboard, webhooks)

    @property
    def script(self) -> tuple[str, ...]:
        """The agency of each command, in order."""
        customs = ("customs",) if self.customs_at_once else ("customs",) * 3
        return (*customs, "forex", "tax")

    def answers(self, step: int) -> int:
        """How many events the agency sends back for the command of `step`."""
        return 3 if self.customs_at_once and self.script[step] == "customs" else 1

    @property
    def hops(self) -> int:
        """Consume→produce handlings a declaration: each command and each answer it gets."""
        return 2 * len(self.script)

    @property
    def envelopes(self) -> dict[str, int]:
        """Envelopes a declaration of each kind: commands, events, status records."""
        events = sum(self.answers(i) for i in range(len(self.script)))
        return {"commands": len(self.script), "events": events, "status": 1 + events}

    @property
    def bytes_per_declaration(self) -> int:
        """Envelope bytes a declaration (frames add a few bytes an envelope)."""
        n = self.envelopes
        return (
            n["commands"] * self.command_bytes
            + n["events"] * self.event_bytes
            + n["status"] * self.status_bytes
        )


SHAPES = {
    "old": Shape("old", False, False, 600, 600, 1000, 2),
    "new": Shape("new", True, True, 250, 200, 200, 0),
}


def commands(agency: str) -> str:
    """An agency's command topic."""
    return f"skeleton.{agency}.commands"


def events(agency: str) -> str:
    """An agency's event topic."""
    return f"skeleton.{agency}.events"


def message(step: int, size: int, last: bool = False, answer: int = 0) -> bytes:
    """A message of `size` bytes that says its step of the script and which answer it is."""
    head = b"%02d%d" % (step, answer) + (DONE if last else b"-")
    return head + b"x" * (size - len(head))


def step_of(value: bytes) -> int:
    """The script step a message belongs to."""
    return int(value[:2])


def answer_of(value: bytes) -> int:
    """Which of an agency's answers to one command a message is (0, 1, 2)."""
    return int(value[2:3])


def is_done(value: bytes) -> bool:
    """Whether a status message is its declaration's last."""
    return value[3:4] == DONE


def frame(items: list[tuple[bytes, bytes]]) -> bytes:
    """Many (key, value) envelopes as one record value: lengths, then the bytes."""
    return b"".join(struct.pack(">HI", len(k), len(v)) + k + v for k, v in items)


def unframe(data: bytes) -> list[tuple[bytes, bytes]]:
    """The (key, value) envelopes of a frame."""
    out, at = [], 0
    while at < len(data):
        klen, vlen = struct.unpack_from(">HI", data, at)
        at += 6
        out.append((data[at : at + klen], data[at + klen : at + klen + vlen]))
        at += klen + vlen
    return out


def follow_up(shape: Shape, topic: str, key: bytes, value: bytes) -> Out:
    """What the process consuming `topic` produces for one envelope of it."""
    step = step_of(value)
    if topic.endswith(".commands"):  # an agency answers its command
        agency = topic.split(".")[1]
        n = shape.answers(step)
        return [(events(agency), key, message(step, shape.event_bytes, answer=i)) for i in range(n)]
    # The gateway: the status of the move and, after an answer's last event, the next command.
    out: Out = []
    final = answer_of(value) == shape.answers(step) - 1
    nxt = step + 1
    if final and nxt < len(shape.script):
        out.append((commands(shape.script[nxt]), key, message(nxt, shape.command_bytes)))
    out.append(
        (STATUS, key, message(nxt, shape.status_bytes, last=final and nxt == len(shape.script)))
    )
    return out


def partition_of(key: bytes) -> int:
    """The partition a key goes to (any stable hash: all of a declaration's stay together)."""
    return zlib.crc32(key) % PARTITIONS


async def create_topics(bootstrap: str) -> None:
    """The skeleton's topics."""
    names = [STATUS, *(commands(a) for a in AGENCIES), *(events(a) for a in AGENCIES)]
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        wanted = [NewTopic(n, PARTITIONS, 1) for n in names if n not in existing]
        if wanted:
            await admin.create_topics(wanted)
    finally:
        await admin.close()


async def send(sender: AIOKafkaProducer, shape: Shape, out: Out) -> None:
    """Produce `out`: framed a topic and partition on internal topics if the shape says so."""
    futures = []
    framed: dict[tuple[str, int], list[tuple[bytes, bytes]]] = defaultdict(list)
    for topic, key, value in out:
        if shape.frame and topic != STATUS:
            framed[(topic, partition_of(key))].append((key, value))
        else:
            futures.append(await sender.send(topic, value, key=key, partition=partition_of(key)))
    for (topic, part), items in framed.items():
        futures.append(await sender.send(topic, frame(items), partition=part))
    await asyncio.gather(*futures)


async def serve(bootstrap: str, role: str, shape: Shape) -> None:
    """Run the gateway's or an agency's skeleton: consume a batch, produce, commit."""
    topics = [events(a) for a in AGENCIES] if role == "gateway" else [commands(role)]

    async def handle(sender: AIOKafkaProducer, batches: Batches) -> None:
        out: Out = []
        for tp, records in batches.items():
            for r in records:
                items = unframe(r.value) if shape.frame else [(r.key, r.value)]
                for key, value in items:
                    out.extend(follow_up(shape, tp.topic, key, value))
        await send(sender, shape, out)

    readers = shape.status_readers if role == "gateway" else 0
    await asyncio.gather(
        consume_produce(bootstrap, topics, f"skeleton-{role}", handle),
        *(read_status(bootstrap, f"skeleton-gateway-status-{i}") for i in range(readers)),
    )


async def read_status(bootstrap: str, group: str) -> None:
    """One of the old gateway's readers of its own status topic: consume and commit."""

    async def handle(_sender: AIOKafkaProducer, batches: Batches) -> None:
        for records in batches.values():
            for r in records:
                is_done(r.value)  # a look at each, as the dashboard and webhooks decoded it

    await consume_produce(bootstrap, [STATUS], group, handle)


async def drive(
    bootstrap: str, shape: Shape, count: int, in_flight: int, timeout_s: float
) -> float:
    """Submit `count` declarations, keeping at most `in_flight` open; return completed a second."""
    listener = AIOKafkaConsumer(
        STATUS,
        bootstrap_servers=bootstrap,
        group_id=None,
        enable_auto_commit=False,
        auto_offset_reset="latest",
        fetch_max_wait_ms=20,
    )
    sender = producer(bootstrap)
    await listener.start()
    await sender.start()

    async def submit(numbers: range) -> None:
        # What a flush of the gateway's outbox sends for these submissions.
        out: Out = []
        for number in numbers:
            key = b"d%d" % number
            out.append((STATUS, key, message(0, shape.status_bytes)))
            out.append((commands(shape.script[0]), key, message(0, shape.command_bytes)))
        await send(sender, shape, out)

    async def completed(wait_ms: int) -> int:
        got = await listener.getmany(timeout_ms=wait_ms, max_records=5000)
        return sum(is_done(r.value) for rs in got.values() for r in rs)

    try:
        # Warm up: one declaration through every process before the clock starts.
        await listener.getmany(timeout_ms=100)  # takes the partitions and their end offsets
        await submit(range(-1, 0))
        deadline = time.monotonic() + 60
        while not await completed(500):
            if time.monotonic() > deadline:
                raise RuntimeError("the skeleton did not complete a warm-up declaration in 60 s")
        started = time.monotonic()
        end = started + timeout_s
        sent = done = 0
        while done < count and time.monotonic() < end:
            burst = min(count - sent, max(0, in_flight - (sent - done)), 200)
            if burst:
                await submit(range(sent, sent + burst))
            sent += burst
            done += await completed(20)
        return done / (time.monotonic() - started)
    finally:
        await listener.stop()
        await sender.stop()


def shape_from(args: argparse.Namespace) -> Shape:
    """The preset `--shape`, with any size given on the command line."""
    sizes = {
        k: v
        for k, v in (
            ("command_bytes", args.command_bytes),
            ("event_bytes", args.event_bytes),
            ("status_bytes", args.status_bytes),
        )
        if v
    }
    return replace(SHAPES[args.shape], **sizes)


def main() -> None:
    """`python -m singlewindow.bench.skeleton topics|serve|drive …`."""
    parser = argparse.ArgumentParser()
    parser.add_argument("role", choices=["topics", "serve", "drive"])
    parser.add_argument("--bootstrap", required=True)
    parser.add_argument("--as", dest="as_", choices=["gateway", *AGENCIES], default="gateway")
    parser.add_argument("--shape", choices=sorted(SHAPES), default="new")
    parser.add_argument("--command-bytes", type=int)
    parser.add_argument("--event-bytes", type=int)
    parser.add_argument("--status-bytes", type=int)
    parser.add_argument("--count", type=int, default=5000)
    parser.add_argument("--in-flight", type=int, default=2000)
    parser.add_argument("--timeout", type=float, default=60)
    args = parser.parse_args()
    shape = shape_from(args)
    if args.role == "topics":
        run_loop(create_topics(args.bootstrap))
    elif args.role == "serve":
        run_loop(serve(args.bootstrap, args.as_, shape))
    else:
        rate = run_loop(drive(args.bootstrap, shape, args.count, args.in_flight, args.timeout))
        print(f"{rate:.1f}")


if __name__ == "__main__":
    main()
