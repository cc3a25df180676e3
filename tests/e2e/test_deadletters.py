"""Operators list dead letters through the gateway and replay the ones that could not be read."""

from __future__ import annotations

import asyncio
import json
import uuid

import httpx

from schemas.envelope import new_envelope
from schemas.messages import ApplyRefund
from schemas.topics import DEADLETTER, commands
from services.common.framing import frame
from services.common.generations import base_of
from tests.e2e.conftest import System
from tests.e2e.test_guarantees import _produce, _read_all
from tests.support import wait_for


def _letters(admin: httpx.Client, marker: str) -> list[dict]:  # type: ignore[type-arg]
    resp = admin.get("/v1/admin/deadletters", params={"limit": 1000})
    assert resp.status_code == 200, resp.text
    return [d for d in resp.json()["data"] if marker in d["value"] or marker in (d["key"] or "")]


def test_dead_letters_are_listed_and_unreadable_ones_replayed(system: System) -> None:
    marker = uuid.uuid4().hex
    refused = new_envelope(
        ApplyRefund(entry_id="531620260000000001", lines=()),
        declaration_id=f"dl-{marker}",
        source="test",
    )
    asyncio.run(
        _produce(
            system.broker,
            [
                (
                    system.topic(commands("customs")),
                    marker.encode(),
                    b"{not json " + marker.encode(),
                ),
                # a readable command customs does not handle: refused by the handler
                (system.topic(commands("customs")), marker.encode(), refused.to_bytes()),
            ],
        )
    )
    with httpx.Client(
        base_url=system.url("gateway"),
        headers={"Authorization": f"Bearer {system.admin_token}"},
        timeout=15,
    ) as admin:
        found = wait_for(
            lambda: letters if len(letters := _letters(admin, marker)) >= 2 else None,
            timeout_s=30,
            what="both dead letters to be listed",
        )
        unreadable = next(d for d in found if d["message_id"] is None)
        handled = next(d for d in found if d["message_id"] == refused.id)
        assert unreadable["service"] == "customs" and base_of(unreadable["topic"]) == commands(
            "customs"
        )
        assert handled["kind"] == "not_handled"

        replayed = admin.post(f"/v1/admin/deadletters/{unreadable['id']}/replay")
        assert replayed.status_code == 202, replayed.text
        assert replayed.json() == {"id": unreadable["id"], "topic": unreadable["topic"]}
        # Consumed again, and (still unreadable) dead-lettered again: the round trip is real.
        wait_for(
            lambda: (
                len([d for d in _letters(admin, marker) if d["message_id"] is None]) >= 2 or None
            ),
            timeout_s=30,
            what="the replayed message to be consumed again",
        )

        refusal = admin.post(f"/v1/admin/deadletters/{handled['id']}/replay")
        assert refusal.status_code == 409
        assert refusal.json()["kind"] == "not_handled"
        assert admin.post("/v1/admin/deadletters/0-99999999/replay").status_code == 404
        assert admin.post("/v1/admin/deadletters/nonsense/replay").status_code == 404

    no_token = httpx.get(system.url("gateway") + "/v1/admin/deadletters", timeout=10)
    assert no_token.status_code in (401, 403)


def test_a_bad_envelope_inside_a_frame_is_dead_lettered_alone_and_a_repeated_one_once(
    system: System,
) -> None:
    """A frame (several envelopes in one record, as the relays send) of: a command customs
    refuses, an envelope of an unknown type, and the refused command again."""
    marker = uuid.uuid4().hex
    refused = new_envelope(
        ApplyRefund(entry_id="531620260000000001", lines=()),
        declaration_id=f"fr-{marker}",
        source="test",
    )
    unknown = json.loads(refused.to_bytes())
    unknown.update(id=f"unknown-{marker}", type="customs.no.such")
    values = [refused.to_bytes(), json.dumps(unknown).encode(), refused.to_bytes()]
    asyncio.run(
        _produce(
            system.broker, [(system.topic(commands("customs")), marker.encode(), frame(values))]
        )
    )

    def letters() -> list[dict] | None:  # type: ignore[type-arg]
        found = [
            json.loads(v)
            for _, v in asyncio.run(_read_all(system.broker, DEADLETTER))
            if v and marker.encode() in v
        ]
        return found if len(found) >= 2 else None

    found = wait_for(letters, timeout_s=30, what="the frame's dead letters", every_s=0.5)
    # Both letters come from the frame's one transaction: a third would be there by now.
    assert sorted((d["kind"], d["frame_index"], d["message_id"]) for d in found) == [
        ("not_handled", None, refused.id),
        ("unknown_type", 1, None),
    ]
    bad = next(d for d in found if d["kind"] == "unknown_type")
    assert json.loads(bad["value"])["id"] == f"unknown-{marker}"
    assert base_of(bad["topic"]) == commands("customs")
