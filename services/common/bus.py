"""The Kafka side: topic creation, the one producer a process, consumers of a group."""

from __future__ import annotations

import asyncio
import functools
import logging
import ssl
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import aiokafka.client as aiokafka_client
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.coordinator.assignors.range import RangePartitionAssignor
from aiokafka.errors import KafkaConnectionError, KafkaError, TopicAlreadyExistsError
from aiokafka.helpers import create_ssl_context
from aiokafka.protocol.metadata import MetadataRequest

from schemas.topics import STATUS, all_topics, rotated
from services.common import generations
from services.common.settings import Settings

log = logging.getLogger(__name__)

# Our clients never create topics by asking for their metadata (aiokafka asks with
# auto-creation on): a deleted topic generation must stay deleted, and every topic the system
# uses is created on purpose, with its partitions, by `ensure_topics`.
aiokafka_client.MetadataRequest = functools.partial(
    MetadataRequest, allow_auto_topic_creation=False
)


def connection_options(settings: Settings) -> dict[str, Any]:
    """Bootstrap servers and security (SASL, TLS) for any Kafka client a process makes."""
    options: dict[str, Any] = {
        "bootstrap_servers": settings.kafka_bootstrap,
        "security_protocol": settings.kafka_security_protocol,
    }
    if settings.kafka_security_protocol in ("SSL", "SASL_SSL"):
        options["ssl_context"] = tls_context(settings)
    if settings.kafka_security_protocol.startswith("SASL"):
        password = settings.kafka_sasl_password
        options.update(
            sasl_mechanism=settings.kafka_sasl_mechanism,
            sasl_plain_username=settings.kafka_sasl_username,
            sasl_plain_password=password.get_secret_value() if password else None,
        )
    return options


def tls_context(settings: Settings) -> ssl.SSLContext:
    """The TLS context of Kafka connections: the system's CAs unless a CA file is given."""
    context: ssl.SSLContext = create_ssl_context(
        cafile=str(settings.kafka_ssl_cafile) if settings.kafka_ssl_cafile else None,
        certfile=str(settings.kafka_ssl_certfile) if settings.kafka_ssl_certfile else None,
        keyfile=str(settings.kafka_ssl_keyfile) if settings.kafka_ssl_keyfile else None,
    )
    return context


async def ensure_topics(
    settings: Settings, topics: Sequence[str] | None = None, *, timeout_s: float = 30
) -> None:
    """Create the topics that are missing, waiting for the broker to answer (with generations
    on: the rotated ones' current and next two generations)."""
    gens = settings.generations()
    wanted = list(topics or all_topics())
    if gens.on:
        now = gens.current()
        wanted = [t for t in wanted if t not in rotated()] + [
            gens.name(t, g) for g in (now, now + 1, now + 2) for t in wanted if t in rotated()
        ]
    deadline = asyncio.get_running_loop().time() + timeout_s
    while True:
        admin = AIOKafkaAdminClient(**connection_options(settings))
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
        **connection_options(settings),
        acks="all",
        enable_idempotence=False,  # the embedded broker lacks InitProducerId; the inbox dedupes
        linger_ms=2,
        max_batch_size=256 * 1024,
        request_timeout_ms=15000,
    )


def make_consumer(settings: Settings, topics: Sequence[str], group: str) -> AIOKafkaConsumer:
    """A consumer in `group` that commits offsets only after its batch is written.

    With generations on it follows every generation of its topics by pattern; the range
    assignor gives one member the same partition of each generation, so it can read them in
    order (services/common/generations.py)."""
    on = settings.generations().on
    consumer = AIOKafkaConsumer(
        *(() if on else topics),
        **connection_options(settings),
        group_id=group,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        max_poll_records=settings.batch_max,
        fetch_max_wait_ms=50,
        session_timeout_ms=6000,
        heartbeat_interval_ms=1000,
        max_poll_interval_ms=300000,
        partition_assignment_strategy=(RangePartitionAssignor,),
        **_metadata_age(settings),
    )
    if on:
        consumer.subscribe(pattern=generations.pattern(topics))
    return consumer


def make_reader(settings: Settings, **options: Any) -> AIOKafkaConsumer:
    """A consumer outside any group (assigned partitions, no commits), e.g. to read a topic."""
    return AIOKafkaConsumer(
        **connection_options(settings),
        group_id=None,
        enable_auto_commit=False,
        **{**_metadata_age(settings), **options},
    )


def _metadata_age(settings: Settings) -> dict[str, int]:
    """With generations on, clients look for new and deleted topics every few seconds."""
    return {"metadata_max_age_ms": 3000} if settings.generations().on else {}


def rotator(
    settings: Settings, claim: Callable[[], Awaitable[bool]] | None = None
) -> generations.Rotator:
    """The process's turner of topic generations (services/common/generations.py)."""
    extra = tuple(g for g in settings.status_groups.split(",") if g.strip())
    return generations.Rotator(
        generations=settings.generations(),
        admin=lambda: AIOKafkaAdminClient(**connection_options(settings)),
        checker=lambda group: AIOKafkaConsumer(
            **connection_options(settings), group_id=group, enable_auto_commit=False
        ),
        group_of=settings.group_of,
        partitions=settings.partitions,
        replication=settings.replication_factor,
        extra_groups={STATUS: tuple(g.strip() for g in extra)},
        claim=claim,
    )
