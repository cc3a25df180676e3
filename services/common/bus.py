"""The Kafka side: topic creation, the one producer a process, consumers of a group."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaConnectionError, KafkaError, TopicAlreadyExistsError

from schemas.topics import all_topics
from services.common.settings import Settings

log = logging.getLogger(__name__)


async def ensure_topics(
    settings: Settings, topics: Sequence[str] | None = None, *, timeout_s: float = 30
) -> None:
    """Create the topics that are missing, waiting for the broker to answer."""
    wanted = list(topics or all_topics())
    deadline = asyncio.get_running_loop().time() + timeout_s
    while True:
        admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap)
        try:
            await admin.start()
            existing = set(await admin.list_topics())
            missing = [t for t in wanted if t not in existing]
            if missing:
                try:
                    await admin.create_topics(
                        [
                            NewTopic(t, settings.partitions, settings.replication_factor)
                            for t in missing
                        ]
                    )
                    log.info("created topics %s", ", ".join(missing))
                except TopicAlreadyExistsError:
                    pass  # another process created them first
            return
        except (KafkaConnectionError, KafkaError, OSError) as exc:
            if asyncio.get_running_loop().time() > deadline:
                raise RuntimeError(
                    f"Kafka at {settings.kafka_bootstrap} did not answer: {exc}"
                ) from exc
            await asyncio.sleep(0.5)  # retry pacing while the broker starts
        finally:
            await admin.close()


def make_producer(settings: Settings) -> AIOKafkaProducer:
    """The process's one producer: acks from all replicas, small linger to batch sends."""
    return AIOKafkaProducer(
        bootstrap_servers=settings.kafka_bootstrap,
        acks="all",
        enable_idempotence=False,  # the embedded broker lacks InitProducerId; the inbox dedupes
        linger_ms=2,
        max_batch_size=256 * 1024,
        request_timeout_ms=15000,
    )


def make_consumer(settings: Settings, topics: Sequence[str], group: str) -> AIOKafkaConsumer:
    """A consumer in `group` that commits offsets only after its batch is written."""
    return AIOKafkaConsumer(
        *topics,
        bootstrap_servers=settings.kafka_bootstrap,
        group_id=group,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        max_poll_records=settings.batch_max,
        fetch_max_wait_ms=50,
        session_timeout_ms=6000,
        heartbeat_interval_ms=1000,
        max_poll_interval_ms=300000,
    )
