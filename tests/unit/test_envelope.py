"""The envelope, its decoder, message ids and the declaration contracts' validators."""

from __future__ import annotations

import itertools
import json
import os
import typing
import uuid
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from pydantic import ValidationError

from schemas.api import DeclarationRequest
from schemas.envelope import (
    DecodeError,
    DecodeFailure,
    Envelope,
    decode,
    new_envelope,
    reply,
    whole,
)
from schemas.ids import uuid7
from schemas.messages import (
    DeclarationAccepted,
    GoodsReleased,
    ReleaseGoods,
    SettleReceipt,
)
from schemas.samples import DEMO_USCC
from schemas.trade import Party
from tests.unit.builders import declaration, green_acceptance, item

AT = datetime(2025, 3, 1, 8, 30, tzinfo=UTC)


def _released() -> Envelope:
    return new_envelope(
        GoodsReleased(entry_id="531620250000000001"),
        declaration_id="d-1",
        source="customs",
        occurred_at=AT,
    )


def _raw(**changes: Any) -> dict[str, Any]:
    """A released-goods envelope as the wire carries it, with some keys changed."""
    data: dict[str, Any] = json.loads(_released().to_bytes())
    data.update(changes)
    return data


def _decode_error(raw: bytes | None) -> DecodeError:
    with pytest.raises(DecodeError) as caught:
        decode(raw)
    return caught.value


# --- decoding ------------------------------------------------------------------------------------


def test_decode_round_trips_an_envelope_with_its_typed_payload() -> None:
    sent = new_envelope(
        green_acceptance(),
        declaration_id="d-1",
        source="customs",
        causation_id="c-1",
        occurred_at=AT,
    )
    got = decode(sent.to_bytes())
    assert got == sent
    assert isinstance(got.payload, DeclarationAccepted)
    assert got.payload.lines[0].value_cny == Decimal("85200.00")
    assert got.correlation_id == "d-1"  # defaults to the declaration id
    assert got.occurred_at == AT


def test_reply_keeps_declaration_and_correlation_and_points_causation_at_the_cause() -> None:
    command = new_envelope(
        ReleaseGoods(), declaration_id="d-1", source="gateway", correlation_id="corr-9"
    )
    answer = reply(command, GoodsReleased(entry_id="531620250000000001"), source="customs")
    assert (answer.declaration_id, answer.correlation_id) == ("d-1", "corr-9")
    assert answer.causation_id == command.id
    assert answer.id != command.id


@pytest.mark.parametrize("raw", [b"", b"{", b"not json", b"\xff\xfe"])
def test_unparseable_bytes_raise_decode_error_kind_unparseable(raw: bytes) -> None:
    assert _decode_error(raw).kind == "unparseable"


def test_none_raises_decode_error_kind_unparseable() -> None:
    error = _decode_error(None)
    assert error.kind == "unparseable"
    assert "empty" in error.reason


def test_unknown_type_raises_decode_error_kind_unknown_type() -> None:
    error = _decode_error(json.dumps(_raw(type="customs.goods.teleported")).encode())
    assert error.kind == "unknown_type"
    assert "customs.goods.teleported" in error.reason


def test_invalid_payload_raises_decode_error_kind_invalid_naming_the_field() -> None:
    data = _raw()
    del data["payload"]["entry_id"]
    error = _decode_error(json.dumps(data).encode())
    assert error.kind == "invalid"
    assert "entry_id" in error.reason
    assert "Field required" in error.reason


def test_unknown_payload_field_is_invalid() -> None:
    data = _raw()
    data["payload"]["colour"] = "red"
    assert _decode_error(json.dumps(data).encode()).kind == "invalid"


def test_invalid_envelope_header_is_invalid() -> None:
    error = _decode_error(json.dumps(_raw(occurred_at="yesterday")).encode())
    assert error.kind == "invalid"
    assert "occurred_at" in error.reason


def test_json_that_is_not_an_object_is_invalid() -> None:
    assert _decode_error(b"[1, 2]").kind == "invalid"


@pytest.mark.parametrize("version", [2, 0, None])
def test_wrong_schema_version_raises_decode_error_kind_wrong_version(version: int | None) -> None:
    error = _decode_error(json.dumps(_raw(schema_version=version)).encode())
    assert error.kind == "wrong_version"
    assert "expected 1" in error.reason


def test_invalid_payload_reason_names_the_full_field_path() -> None:
    data = _raw()
    del data["payload"]["entry_id"]
    assert "payload.entry_id" in _decode_error(json.dumps(data).encode()).reason


def test_decode_failure_literal_lists_every_kind_decode_raises() -> None:
    raised = {
        _decode_error(None).kind,
        _decode_error(json.dumps(_raw(type="x.y")).encode()).kind,
        _decode_error(json.dumps(_raw(schema_version=9)).encode()).kind,
        _decode_error(json.dumps(_raw(source=None)).encode()).kind,
    }
    assert raised <= set(typing.get_args(DecodeFailure))


def test_type_that_does_not_match_the_payload_is_rejected() -> None:
    with pytest.raises(ValidationError, match="does not match payload"):
        Envelope(
            id=uuid7(),
            type=GoodsReleased.TYPE,
            schema_version=1,
            declaration_id="d-1",
            correlation_id="d-1",
            occurred_at=AT,
            source="gateway",
            payload=ReleaseGoods(),
        )


def test_envelope_needs_an_aware_timestamp() -> None:
    with pytest.raises(ValidationError, match="occurred_at"):
        new_envelope(
            ReleaseGoods(),
            declaration_id="d-1",
            source="gateway",
            occurred_at=datetime(2025, 3, 1, 8, 30),
        )


# --- ids -----------------------------------------------------------------------------------------


def test_uuid7_ids_strictly_increase_over_ten_thousand_calls() -> None:
    """10,000 calls land in a handful of milliseconds: the 12-bit counter keeps the order."""
    ids = [uuid7() for _ in range(10_000)]
    assert all(a < b for a, b in itertools.pairwise(ids))
    as_ints = [uuid.UUID(i).int for i in ids]
    assert all(a < b for a, b in itertools.pairwise(as_ints))


def test_uuid7_ids_have_version_7_and_the_rfc_variant() -> None:
    for value in (uuid7() for _ in range(100)):
        parsed = uuid.UUID(value)
        assert parsed.version == 7
        assert parsed.variant == uuid.RFC_4122
        assert str(parsed) == value


def test_uuid7_carries_the_current_unix_millisecond() -> None:
    before = int(datetime.now(UTC).timestamp() * 1000)
    stamp = uuid.UUID(uuid7()).int >> 80
    after = int(datetime.now(UTC).timestamp() * 1000)
    # The counter may have pushed the time a few ms ahead after many calls in one ms.
    assert before - 1 <= stamp <= after + 5


# --- declaration contracts -----------------------------------------------------------------------


def _request(**changes: Any) -> dict[str, Any]:
    data: dict[str, Any] = declaration().model_dump(mode="json")
    data.update(changes)
    return data


def test_declaration_request_rejects_bonded_1210_on_export() -> None:
    with pytest.raises(ValidationError, match="1210 is an import mode"):
        DeclarationRequest.model_validate(_request(direction="export", trade_mode="1210"))


@pytest.mark.parametrize("mode", ["9710", "9810"])
def test_declaration_request_rejects_b2b_export_modes_on_import(mode: str) -> None:
    with pytest.raises(ValidationError, match=f"{mode} is an export mode"):
        DeclarationRequest.model_validate(_request(direction="import", trade_mode=mode))


@pytest.mark.parametrize(
    ("direction", "mode"),
    [
        ("import", "1210"),
        ("export", "9710"),
        ("export", "9810"),
        ("export", "9610"),
        ("import", "9610"),
        ("export", "0110"),
        ("import", "0110"),
    ],
)
def test_declaration_request_accepts_modes_that_fit_the_direction(
    direction: str, mode: str
) -> None:
    request = DeclarationRequest.model_validate(_request(direction=direction, trade_mode=mode))
    assert request.trade_mode.value == mode


def test_party_with_a_bad_uscc_names_the_problem() -> None:
    with pytest.raises(ValidationError) as caught:
        Party(uscc=DEMO_USCC[:17] + "4", name="Fuzhou Demo Trading Co.")
    (error,) = caught.value.errors()
    assert error["loc"] == ("uscc",)
    assert "not a valid unified social credit code" in error["msg"]
    assert "expected '3'" in error["msg"]


@pytest.mark.parametrize("hs_code", ["85171300", "851713000000", "85171300AB", "8517.13.00"])
def test_item_with_a_bad_hs_code_names_the_problem(hs_code: str) -> None:
    with pytest.raises(ValidationError) as caught:
        item(hs_code=hs_code)
    (error,) = caught.value.errors()
    assert error["loc"] == ("hs_code",)
    assert "10-digit HS code" in error["msg"]


def test_item_with_an_unknown_origin_country_names_it() -> None:
    with pytest.raises(ValidationError) as caught:
        item(origin="XYZ")
    (error,) = caught.value.errors()
    assert error["loc"] == ("origin_country",)
    assert "'XYZ' is not an ISO 3166-1 alpha-3 country code" in error["msg"]


def test_declaration_with_an_unknown_counterparty_country_names_it() -> None:
    with pytest.raises(ValidationError, match="'DE' is not an ISO 3166-1 alpha-3"):
        declaration(counterparty="DE")


def test_declaration_with_an_unknown_currency_names_it_and_the_known_ones() -> None:
    with pytest.raises(ValidationError) as caught:
        declaration(currency="RMB")
    (error,) = caught.value.errors()
    assert error["loc"] == ("currency",)
    assert "'RMB' is not an ISO 4217 currency" in error["msg"]
    assert "CNY" in error["msg"] and "USD" in error["msg"]


@pytest.mark.parametrize("quantity", ["0", "-1", "-0.0001"])
def test_item_quantity_must_be_positive(quantity: str) -> None:
    with pytest.raises(ValidationError) as caught:
        item(quantity=quantity)
    (error,) = caught.value.errors()
    assert error["loc"] == ("quantity",)
    assert error["type"] == "greater_than"


def test_item_value_is_quantity_times_unit_price() -> None:
    """100 × 120.00 = 12,000.00."""
    assert item(quantity="100", unit_price="120.00").value == Decimal("12000.00")


def test_declaration_total_value_sums_the_lines() -> None:
    """100 × 120.00 + 3 × 33.3333 = 12,000 + 99.9999 = 12,099.9999."""
    decl = declaration(
        item(quantity="100", unit_price="120.00"), item("8471300000", "3", "33.3333")
    )
    assert decl.total_value == Decimal("12099.9999")


def test_contracts_are_frozen_and_refuse_unknown_fields() -> None:
    decl = declaration()
    with pytest.raises(ValidationError):
        decl.currency = "EUR"  # type: ignore[misc]
    with pytest.raises(ValidationError, match="Extra inputs"):
        DeclarationRequest.model_validate(_request(priority="high"))


def test_uuid7_random_bits_differ_in_a_forked_child() -> None:
    """Ids of a parent and its forked child in the same millisecond must not collide."""
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: send one id and leave without running pytest's teardown
        os.write(write, uuid7().encode())
        os._exit(0)
    os.close(write)
    mine = uuid7()
    os.waitpid(pid, 0)
    theirs = os.read(read, 64).decode()
    os.close(read)
    assert mine[-12:] != theirs[-12:]


def test_the_sandbox_clock_travels_in_the_envelope_only_once_it_moved() -> None:
    """An offset of 0 is left off the wire (an older reader still reads the message); a moved
    one is carried, read back, handed on by a reply, and shifts the time decided as of."""
    assert "clock_offset_s" not in json.loads(_released().to_bytes())
    moved = new_envelope(
        ReleaseGoods(), declaration_id="d-1", source="gateway", clock_offset_s=86400.0
    )
    wire = json.loads(moved.to_bytes())
    assert wire["clock_offset_s"] == 86400.0
    assert decode(moved.to_bytes()).clock_offset_s == 86400.0
    answer = reply(moved, GoodsReleased(entry_id="531620250000000001"), source="customs")
    assert answer.clock_offset_s == 86400.0
    assert answer.sandbox_time(AT) == datetime(2025, 3, 2, 8, 30, tzinfo=UTC)
    with pytest.raises(DecodeError, match="clock_offset_s"):
        decode(json.dumps(_raw(clock_offset_s=-1)).encode())


def test_fields_at_their_default_stay_off_the_wire_and_read_back_the_same() -> None:
    """A settle command of 12,000.00 USD: its nine empty fields (declarant, received, …) and
    `via_api` false are not sent; decoded, it is the same envelope."""
    settle = SettleReceipt(
        entry_id="531620250000000001", amount=Decimal("12000.00"), currency="USD"
    )
    sent = new_envelope(settle, declaration_id="d-1", source="gateway")
    wire = json.loads(sent.to_bytes())
    assert wire["payload"] == {
        "entry_id": "531620250000000001",
        "amount": "12000.00",
        "currency": "USD",
    }
    # No cause, and the correlation id is the declaration's: neither is sent.
    assert "causation_id" not in wire and "correlation_id" not in wire
    assert decode(sent.to_bytes()) == sent
    traced = new_envelope(settle, declaration_id="d-1", source="gateway", correlation_id="t-9")
    assert json.loads(traced.to_bytes())["correlation_id"] == "t-9"
    assert decode(traced.to_bytes()) == traced
    # The journal views show it whole, as it read before: every field, defaults too.
    shown = whole(sent.to_bytes())
    assert shown["causation_id"] is None and "clock_offset_s" not in shown
    assert shown["payload"] == json.loads(settle.model_dump_json())
