"""The load tool's consumer lag counts records, on the embedded broker too (whose ListOffsets
answers the number of producer batches, not the next offset)."""

from __future__ import annotations

import asyncio
import subprocess
import time
from collections.abc import Iterator

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from services.common.bus import ensure_topics
from services.common.settings import Settings
from singlewindow.broker import broker_command, wait_for_port
from singlewindow.load.listener import LagSampler
from singlewindow.spawn import free_port_block
from singlewindow.supervisor import die_with_parent


@pytest.fixture
def bootstrap() -> Iterator[str]:
    port = free_port_block(1)
    proc = subprocess.Popen(
        broker_command(port),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        preexec_fn=die_with_parent,
    )
    try:
        assert wait_for_port("127.0.0.1", port, 15)
        yield f"127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


async def test_lag_is_what_was_produced_less_what_the_group_committed(bootstrap: str) -> None:
    settings = Settings(kafka_bootstrap=bootstrap)
    await ensure_topics(settings)
    tp = TopicPartition("sw.customs.commands", 0)
    # 30 records in one producer batch, of which customs' group has committed 10.
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=100)
    await producer.start()
    try:
        sent = [await producer.send(tp.topic, b"x", partition=0) for _ in range(30)]
        await asyncio.gather(*sent)
    finally:
        await producer.stop()
    group = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, group_id=settings.group_of("customs"), enable_auto_commit=False
    )
    await group.start()
    try:
        group.assign([tp])
        await group.commit({tp: 10})
    finally:
        await group.stop()

    sampler = LagSampler(bootstrap)
    await sampler.start()
    try:
        deadline = time.monotonic() + 15
        lag = await sampler.sample()
        while lag["sw.customs.commands"] != 20 and time.monotonic() < deadline:
            await asyncio.sleep(0.1)  # polling with a deadline: the reader's fetch lands
            lag = await sampler.sample()
    finally:
        await sampler.stop()
    assert lag["sw.customs.commands"] == 20
    assert lag["sw.forex.commands"] == 0 and lag["sw.customs.events"] == 0
