"""The raw chain: N plain aiokafka consume→produce processes, the broker's ceiling for N hops."""

from __future__ import annotations

import argparse
import asyncio
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from singlewindow.loop import run as run_loop

PARTITIONS = 6


def topic(i: int) -> str:
    """The topic between hop i-1 and hop i."""
    return f"bench.chain.{i}"


async def create_topics(bootstrap: str, hops: int) -> None:
    """One topic per link of the chain."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        wanted = [
            NewTopic(topic(i), PARTITIONS, 1) for i in range(hops + 1) if topic(i) not in existing
        ]
        if wanted:
            await admin.create_topics(wanted)
    finally:
        await admin.close()


def producer(bootstrap: str) -> AIOKafkaProducer:
    """A producer configured as the services' own (acks from all, a small linger)."""
    return AIOKafkaProducer(
        bootstrap_servers=bootstrap, acks="all", linger_ms=2, enable_idempotence=False
    )


Batches = dict[TopicPartition, list[ConsumerRecord[bytes, bytes]]]


async def consume_produce(
    bootstrap: str,
    topics: Sequence[str],
    group: str,
    handle: Callable[[AIOKafkaProducer, Batches], Awaitable[None]],
) -> None:
    """A group member's loop: consume a batch, let `handle` produce and await its acks, commit."""
    consumer = AIOKafkaConsumer(
        *topics,
        bootstrap_servers=bootstrap,
        group_id=group,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        fetch_max_wait_ms=50,
        max_poll_records=500,
    )
    sender = producer(bootstrap)
    await consumer.start()
    await sender.start()
    try:
        while True:
            batches = await consumer.getmany(timeout_ms=200, max_records=500)
            if batches:
                await handle(sender, batches)
                await consumer.commit()
    finally:
        await consumer.stop()
        await sender.stop()


async def forward(
    bootstrap: str,
    topics: Sequence[str],
    group: str,
    follow_up: Callable[[str, bytes], Iterable[tuple[str, bytes]]],
) -> None:
    """Consume a batch, produce what `follow_up` makes of each message, await the acks, commit."""

    async def handle(sender: AIOKafkaProducer, batches: Batches) -> None:
        futures = [
            await sender.send(to, value, key=r.key)
            for tp, records in batches.items()
            for r in records
            for to, value in follow_up(tp.topic, r.value)
        ]
        await asyncio.gather(*futures)

    await consume_produce(bootstrap, topics, group, handle)


async def hop(bootstrap: str, index: int) -> None:
    """Consume a batch from link `index`, produce each message to link `index + 1`, commit."""
    await forward(
        bootstrap, [topic(index)], f"bench-hop-{index}", lambda _t, v: [(topic(index + 1), v)]
    )


async def drive(bootstrap: str, hops: int, count: int, timeout_s: float) -> float:
    """Send `count` messages into the chain; return messages a second that came out the end."""
    consumer = AIOKafkaConsumer(
        topic(hops),
        bootstrap_servers=bootstrap,
        group_id="bench-sink",
        enable_auto_commit=False,
        auto_offset_reset="latest",
    )
    sender = producer(bootstrap)
    await consumer.start()
    await sender.start()
    try:
        # Warm the chain so every hop has joined its group before the clock starts.
        await sender.send_and_wait(topic(0), b"warm", key=b"warm")
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            got = await consumer.getmany(timeout_ms=500)
            if any(r.value == b"warm" for rs in got.values() for r in rs):
                break
        else:
            raise RuntimeError("the chain did not pass a warm-up message within 60 s")
        payload = b"x" * 600  # about the size of one envelope
        started = time.monotonic()
        sent = 0
        received = 0
        end = started + timeout_s
        while received < count and time.monotonic() < end:
            burst = min(500, count - sent)
            if burst:
                for i in range(burst):
                    await sender.send(topic(0), payload, key=str(sent + i).encode())
                sent += burst
            got = await consumer.getmany(timeout_ms=20, max_records=5000)
            received += sum(len(rs) for rs in got.values())
            # Keep at most a few thousand in flight, like a steady arrival rate would.
            while sent - received > 5000 and time.monotonic() < end:
                got = await consumer.getmany(timeout_ms=50, max_records=5000)
                received += sum(len(rs) for rs in got.values())
        elapsed = time.monotonic() - started
        return received / elapsed
    finally:
        await consumer.stop()
        await sender.stop()


def main() -> None:
    """`python -m singlewindow.bench.chain hop|drive …`."""
    parser = argparse.ArgumentParser()
    parser.add_argument("role", choices=["hop", "drive", "topics"])
    parser.add_argument("--bootstrap", required=True)
    parser.add_argument("--index", type=int, default=0)
    parser.add_argument("--hops", type=int, default=10)
    parser.add_argument("--count", type=int, default=20000)
    parser.add_argument("--timeout", type=float, default=60)
    args = parser.parse_args()
    if args.role == "hop":
        run_loop(hop(args.bootstrap, args.index))
    elif args.role == "topics":
        run_loop(create_topics(args.bootstrap, args.hops))
    else:
        print(f"{run_loop(drive(args.bootstrap, args.hops, args.count, args.timeout)):.1f}")


if __name__ == "__main__":
    main()
