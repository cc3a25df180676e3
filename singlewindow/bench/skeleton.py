"""The skeleton: one declaration's messages and nothing else, through plain aiokafka processes.

The raw chain answers "what does this broker carry through N hops"; the skeleton answers "what
is the most any implementation of this design could reach on this machine": the same processes
(a gateway and four agencies), the same topics, and for each export 0110 declaration the same
messages as the real system (3 customs commands and 3 events, a forex and a tax command and
event, 6 status messages, one per move), of the real sizes, with no database, no validation, no
HTTP and no decisions. Each process consumes a batch, produces what follows each message,
waits for the broker's acknowledgements and commits, as the raw chain's hops do.

The driver stands where the gateway's HTTP route and the load tool stand: it produces each
declaration's first status message and first command (what a submission's transaction puts in
the outbox), and reads the status topic for the last one, as the load tool does.
"""

from __future__ import annotations

import argparse
import time

from aiokafka import AIOKafkaConsumer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from singlewindow.bench.chain import forward, producer
from singlewindow.loop import run as run_loop

PARTITIONS = 2  # the system's default partitions a topic
# The agency of each command of a happy export 0110 declaration, in order.
SCRIPT = ("customs", "customs", "customs", "forex", "tax")
AGENCIES = ("customs", "inspection", "forex", "tax")
STATUS = "skeleton.status"
COMMAND_BYTES = 600  # about the size of a command or event envelope
STATUS_BYTES = 1000  # about the size of a status message
DONE = b"D"


def commands(agency: str) -> str:
    """An agency's command topic."""
    return f"skeleton.{agency}.commands"


def events(agency: str) -> str:
    """An agency's event topic."""
    return f"skeleton.{agency}.events"


def message(step: int, size: int, last: bool = False) -> bytes:
    """A message of `size` bytes that says which step of the script it belongs to."""
    head = b"%02d" % step + (DONE if last else b"-")
    return head + b"x" * (size - len(head))


def step_of(value: bytes) -> int:
    """The script step a message belongs to."""
    return int(value[:2])


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


def follow_up(topic: str, value: bytes) -> list[tuple[str, bytes]]:
    """What the process consuming `topic` produces for one message of it."""
    if topic.endswith(".commands"):  # an agency answers its command
        agency = topic.split(".")[1]
        return [(events(agency), value)]
    # The gateway: the next command of the script (if any) and the status of the move.
    nxt = step_of(value) + 1
    out = []
    if nxt < len(SCRIPT):
        out.append((commands(SCRIPT[nxt]), message(nxt, COMMAND_BYTES)))
    out.append((STATUS, message(nxt, STATUS_BYTES, last=nxt == len(SCRIPT))))
    return out


async def serve(bootstrap: str, role: str) -> None:
    """Run the gateway's or an agency's skeleton: consume a batch, produce, commit."""
    topics = [events(a) for a in AGENCIES] if role == "gateway" else [commands(role)]
    await forward(bootstrap, topics, f"skeleton-{role}", follow_up)


async def drive(bootstrap: str, count: int, in_flight: int, timeout_s: float) -> float:
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

    async def submit(number: int) -> None:
        key = b"d%d" % number
        await sender.send(STATUS, message(0, STATUS_BYTES), key=key)
        await sender.send(commands(SCRIPT[0]), message(0, COMMAND_BYTES), key=key)

    async def completed(wait_ms: int) -> int:
        got = await listener.getmany(timeout_ms=wait_ms, max_records=5000)
        return sum(r.value[2:3] == DONE for rs in got.values() for r in rs)

    try:
        # Warm up: one declaration through every process before the clock starts.
        await listener.getmany(timeout_ms=100)  # takes the partitions and their end offsets
        await submit(-1)
        deadline = time.monotonic() + 60
        while not await completed(500):
            if time.monotonic() > deadline:
                raise RuntimeError("the skeleton did not complete a warm-up declaration in 60 s")
        started = time.monotonic()
        end = started + timeout_s
        sent = done = 0
        while done < count and time.monotonic() < end:
            burst = min(count - sent, max(0, in_flight - (sent - done)), 200)
            for i in range(burst):
                await submit(sent + i)
            sent += burst
            done += await completed(20)
        return done / (time.monotonic() - started)
    finally:
        await listener.stop()
        await sender.stop()


def main() -> None:
    """`python -m singlewindow.bench.skeleton topics|serve|drive …`."""
    parser = argparse.ArgumentParser()
    parser.add_argument("role", choices=["topics", "serve", "drive"])
    parser.add_argument("--bootstrap", required=True)
    parser.add_argument("--as", dest="as_", choices=["gateway", *AGENCIES], default="gateway")
    parser.add_argument("--count", type=int, default=5000)
    parser.add_argument("--in-flight", type=int, default=2000)
    parser.add_argument("--timeout", type=float, default=60)
    args = parser.parse_args()
    if args.role == "topics":
        run_loop(create_topics(args.bootstrap))
    elif args.role == "serve":
        run_loop(serve(args.bootstrap, args.as_))
    else:
        rate = run_loop(drive(args.bootstrap, args.count, args.in_flight, args.timeout))
        print(f"{rate:.1f}")


if __name__ == "__main__":
    main()
