"""Nothing lost, nothing twice: dead letters, redelivery and killed processes, on real processes."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import uuid

import httpx
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from schemas.envelope import new_envelope
from schemas.messages import CloseDeclaration
from schemas.samples import sample_declaration
from schemas.topics import AGENCIES, DEADLETTER, commands, events
from services.common.framing import FrameError, unframe
from services.common.generations import base_of, partitions_of
from tests.e2e.conftest import System
from tests.support import wait_for


async def _read_all(bootstrap: str, topic: str) -> list[tuple[bytes | None, bytes | None]]:
    """Every (key, value) now on a topic (all its generations), read without a group."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, enable_auto_commit=False, auto_offset_reset="earliest"
    )
    await consumer.start()
    try:
        partitions = await partitions_of(consumer, topic)
        assert partitions, f"topic {topic} has no partitions"
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        ends = await consumer.end_offsets(partitions)
        out: list[tuple[bytes | None, bytes | None]] = []

        async def behind() -> bool:
            return any([await consumer.position(tp) < ends[tp] for tp in partitions])

        while await behind():
            batch = await consumer.getmany(timeout_ms=500)
            for records in batch.values():
                out.extend((r.key, r.value) for r in records)
        return out
    finally:
        await consumer.stop()


async def _produce(bootstrap: str, messages: list[tuple[str, bytes | None, bytes]]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        for topic, key, value in messages:
            await producer.send_and_wait(topic, value, key=key)
    finally:
        await producer.stop()


def _elements(value: bytes) -> list[bytes]:
    """The envelopes a record carries as bytes (none for another test's unreadable frame)."""
    try:
        return unframe(value)
    except FrameError:
        return []


def _metric(system: System, service: str, name: str) -> float:
    text = httpx.get(system.url(service) + "/metrics", timeout=5).text
    total = 0.0
    for line in text.splitlines():
        if re.match(rf"{name}(\{{.*\}})? ", line):
            total += float(line.rsplit(" ", 1)[1])
    return total


def test_unreadable_messages_go_to_the_dead_letter_topic_and_processing_goes_on(
    system: System,
) -> None:
    marker = uuid.uuid4().hex
    unknown = new_envelope(
        CloseDeclaration(), declaration_id=f"dl-{marker}", source="test"
    ).model_dump()
    unknown["type"] = "customs.declaration.teleport"
    bad_payload = new_envelope(
        CloseDeclaration(), declaration_id=f"dl-{marker}", source="test"
    ).model_dump(mode="json")
    bad_payload["type"] = "customs.goods.detain"  # a detain command needs reason_code and reason
    key = f"dl-{marker}".encode()
    asyncio.run(
        _produce(
            system.broker,
            [
                (system.topic(commands("customs")), key, b"{not json " + marker.encode()),
                (
                    system.topic(commands("customs")),
                    key,
                    json.dumps(unknown, default=str).encode(),
                ),
                (system.topic(commands("customs")), key, json.dumps(bad_payload).encode()),
                (system.topic(events("tax")), key, b"\xff\xfe" + marker.encode()),
            ],
        )
    )

    def letters() -> list[dict] | None:
        found = [
            json.loads(v)
            for k, v in asyncio.run(_read_all(system.broker, DEADLETTER))
            if k == key and v
        ]
        return found if len(found) >= 4 else None

    found = wait_for(letters, timeout_s=30, what="four dead letters", every_s=0.5)
    kinds = sorted(letter["kind"] for letter in found)
    assert kinds == ["invalid", "unknown_type", "unparseable", "unparseable"]
    by_kind = {letter["kind"]: letter for letter in found}
    assert "teleport" in by_kind["unknown_type"]["reason"]
    assert "reason_code" in by_kind["invalid"]["reason"]
    assert {letter["service"] for letter in found} == {"customs", "gateway"}
    assert all(base_of(letter["topic"]) in (commands("customs"), events("tax")) for letter in found)
    # The consumers did not stop: a declaration still goes all the way through.
    with system.client() as client:
        created = client.post(
            "/v1/declarations", json=sample_declaration("export", "0110", "happy")
        ).json()
        assert system.wait_terminal(client, created["id"])["status"] == "completed"
    assert _metric(system, "customs", "sw_dead_letters_total") >= 3


def test_every_message_delivered_twice_more_changes_nothing(system: System) -> None:
    with system.client() as client:
        declaration_id = client.post(
            "/v1/declarations", json=sample_declaration("export", "0110", "happy")
        ).json()["id"]
        before = system.wait_terminal(client, declaration_id)
        assert before["status"] == "completed"
        timeline_before = client.get(f"/v1/declarations/{declaration_id}/events").json()["data"]
    key = declaration_id.encode()
    topics = [t for a in AGENCIES for t in (commands(a), events(a))]
    # The relays frame a flush's messages per partition: each of this declaration's messages
    # is sent again on its own (a record of one envelope, as any producer may send).
    originals = [
        (system.topic(topic), key, element)
        for topic in topics
        for _, v in asyncio.run(_read_all(system.broker, topic))
        if v is not None
        for element in _elements(v)
        if key in element
    ]
    per_service = {s: 0 for s in ("gateway", *AGENCIES)}
    for topic, _, _ in originals:
        per_service["gateway" if ".events" in topic else topic.split(".")[1]] += 2
    # accepted, released, closed, settled, refund paid; file (customs clears on its own);
    # settle; refund.
    assert per_service == {"gateway": 10, "customs": 2, "inspection": 0, "forex": 2, "tax": 2}
    dups_before = {s: _metric(system, s, "sw_messages_duplicate_total") for s in per_service}

    asyncio.run(_produce(system.broker, originals + originals))

    for service, expected in per_service.items():
        wait_for(
            lambda s=service, n=expected: (
                _metric(system, s, "sw_messages_duplicate_total") >= dups_before[s] + n
            ),
            timeout_s=30,
            what=f"{service} to see {expected} duplicates",
        )
    with system.client() as client:
        after = client.get(f"/v1/declarations/{declaration_id}").json()
        timeline_after = client.get(f"/v1/declarations/{declaration_id}/events").json()["data"]
    assert after["figures"] == before["figures"] and after["status"] == "completed"
    assert [e["id"] for e in timeline_after] == [e["id"] for e in timeline_before]
    tax = httpx.get(
        f"{system.url('tax')}/v1/records/{declaration_id}",
        headers={"Authorization": f"Bearer {system.admin_token}"},
    ).json()
    paid = [m for m in tax["messages"] if m["type"] == "tax.refund.paid"]
    assert len(paid) == 1, "a refund is paid once, however often the command arrives"


def test_killing_an_agency_mid_flight_loses_nothing_and_repeats_nothing(system: System) -> None:
    for victim in ("customs", "tax"):
        old_pid = system.pid_of(victim)
        with system.client() as client:
            ids = [
                client.post(
                    "/v1/declarations", json=sample_declaration("export", "0110", "happy")
                ).json()["id"]
                for _ in range(20)
            ]
            os.kill(old_pid, signal.SIGKILL)
            ids += [
                client.post(
                    "/v1/declarations", json=sample_declaration("export", "0110", "happy")
                ).json()["id"]
                for _ in range(10)
            ]
            wait_for(
                lambda v=victim, p=old_pid: _safe_pid(system, v) not in (None, p),
                timeout_s=30,
                what=f"the supervisor to restart {victim}",
            )
            for declaration_id in ids:
                view = system.wait_terminal(client, declaration_id, timeout_s=90)
                assert view["status"] == "completed", view
                types = [
                    e["type"]
                    for e in client.get(f"/v1/declarations/{declaration_id}/events").json()["data"]
                ]
                assert types.count("tax.refund.paid") == 1
                assert types.count("customs.declaration.accepted") == 1
                tax = httpx.get(
                    f"{system.url('tax')}/v1/records/{declaration_id}",
                    headers={"Authorization": f"Bearer {system.admin_token}"},
                ).json()
                assert [m["type"] for m in tax["messages"]].count("tax.refund.paid") == 1
    assert "restarted customs" in (system.data_dir / "up.log").read_text()


def _safe_pid(system: System, service: str) -> int | None:
    try:
        return system.pid_of(service)
    except httpx.HTTPError:
        return None
