"""The webhook sender's pure rules: signing and verifying, backoff, routing, hardening."""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from gateway.webhooks.rules import (
    EVENT_TYPES,
    SignatureError,
    Subscriber,
    backoff_s,
    event_body,
    hardening_plan,
    jitter,
    recipients,
    sign,
    signature_header,
    verify,
)
from schemas.messages import Figures, StatusChanged
from schemas.trade import Direction, TradeMode

SECRET = "whsec_test_secret"
T = 1_700_000_000
BODY = b'{"id":"evt_1"}'
# Computed outside Python, by OpenSSL:
#   printf '1700000000.{"id":"evt_1"}' | openssl dgst -sha256 -hmac whsec_test_secret
KNOWN_HEX = "248a374f50f943a28b0f6ab50faf9a7e7e29b710fa26df9fb1618b9bf8ea9c9a"


def test_signature_is_hmac_sha256_of_timestamp_dot_body_worked_example() -> None:
    assert sign(SECRET, T, BODY) == KNOWN_HEX
    assert signature_header(SECRET, T, BODY) == f"t=1700000000,v1={KNOWN_HEX}"


def test_a_receiver_verifies_with_nothing_but_hmac() -> None:
    """The documented recipe, written with the standard library only, agrees with `sign`."""
    header = signature_header(SECRET, T, BODY)
    parts = dict(p.split("=", 1) for p in header.split(","))
    expected = hmac.new(
        SECRET.encode(), parts["t"].encode() + b"." + BODY, hashlib.sha256
    ).hexdigest()
    assert hmac.compare_digest(expected, parts["v1"])


def test_verify_accepts_the_right_signature_within_the_tolerance() -> None:
    header = signature_header(SECRET, T, BODY)
    assert verify(SECRET, header, BODY, now=T + 300) == T
    assert verify(SECRET, header, BODY, now=T - 300) == T


@pytest.mark.parametrize(
    ("header", "body", "now", "why"),
    [
        (None, BODY, T, "no SW-Signature header"),
        ("t=abc,v1=00", BODY, T, "not a unix timestamp"),
        (f"v1={KNOWN_HEX}", BODY, T, "needs t=<unix> and v1=<hex>"),
        (f"t={T}", BODY, T, "needs t=<unix> and v1=<hex>"),
        (f"t={T},v1={KNOWN_HEX}", b'{"id":"evt_2"}', T, "no v1 signature matches"),
        (f"t={T + 1},v1={KNOWN_HEX}", BODY, T, "no v1 signature matches"),  # t is signed too
        (f"t={T},v1={KNOWN_HEX}", BODY, T + 301, "more than 300s from now"),
    ],
)
def test_verify_refuses_what_was_not_signed_with_the_secret_or_is_stale(
    header: str | None, body: bytes, now: int, why: str
) -> None:
    with pytest.raises(SignatureError, match=why):
        verify(SECRET, header, body, now=now)


def test_verify_refuses_another_endpoints_secret() -> None:
    with pytest.raises(SignatureError):
        verify("whsec_other", signature_header(SECRET, T, BODY), BODY, now=T)


def test_verify_accepts_any_of_several_v1_signatures() -> None:
    """A header may carry more than one v1 (e.g. while a secret is rolled)."""
    header = f"t={T},v1={'0' * 64},v1={KNOWN_HEX}"
    assert verify(SECRET, header, BODY, now=T) == T


@pytest.mark.parametrize(
    ("attempt", "jitter_", "expected"),
    [
        # base 2 s, cap 600 s: ceiling 2·2^(n-1) → 2, 4, 8, 16 …; wait = ceiling · (0.5 + 0.5·j)
        (1, 0.0, 1.0),  # 2 · 0.5
        (1, 0.5, 1.5),  # 2 · 0.75
        (2, 0.5, 3.0),  # 4 · 0.75
        (4, 0.5, 12.0),  # 16 · 0.75
        (4, 0.999, 15.992),  # 16 · 0.9995
        (9, 0.5, 384.0),  # 512 · 0.75
        (10, 0.5, 450.0),  # 1024 capped to 600 · 0.75
        (30, 0.0, 300.0),  # far past the cap: 600 · 0.5
    ],
)
def test_backoff_doubles_up_to_the_cap_with_equal_jitter(
    attempt: int, jitter_: float, expected: float
) -> None:
    assert backoff_s(attempt, base_s=2.0, cap_s=600.0, jitter=jitter_) == pytest.approx(expected)


def test_the_whole_default_schedule_stays_within_its_bounds() -> None:
    """Eight attempts, seven waits: at least 1+2+4+8+16+32+64 = 127 s, at most twice that."""
    waits = [backoff_s(n, base_s=2.0, cap_s=600.0, jitter=jitter("whd_1", n)) for n in range(1, 8)]
    assert 127 <= sum(waits) <= 254
    assert all(lo <= w <= 2 * lo for w, lo in zip(waits, [1, 2, 4, 8, 16, 32, 64], strict=True))


def test_jitter_is_fixed_by_delivery_and_attempt_and_lies_in_0_1() -> None:
    assert jitter("whd_1", 1) == jitter("whd_1", 1)
    assert jitter("whd_1", 1) != jitter("whd_1", 2)
    assert all(0 <= jitter(f"whd_{i}", 3) < 1 for i in range(200))


A = Subscriber("we_a", "ent_a", ("*",))
A_ENDS = Subscriber("we_a2", "ent_a", ("declaration.completed", "declaration.rejected"))
B = Subscriber("we_b", "ent_b", ("*",))


@pytest.mark.parametrize(
    ("enterprise_id", "kind", "expected"),
    [
        ("ent_a", "declaration.submitted", ["we_a"]),
        ("ent_a", "declaration.completed", ["we_a", "we_a2"]),
        ("ent_a", "declaration.rejected", ["we_a", "we_a2"]),
        ("ent_b", "declaration.completed", ["we_b"]),  # never ent_a's endpoints
        ("ent_c", "declaration.completed", []),  # no endpoint: nobody
    ],
)
def test_an_event_goes_to_its_enterprises_endpoints_that_want_it(
    enterprise_id: str, kind: str, expected: list[str]
) -> None:
    found = recipients([A, A_ENDS, B], enterprise_id=enterprise_id, kind=kind)
    assert [s.id for s in found] == expected


def test_event_types_are_one_per_public_status_and_the_ceb_receipt() -> None:
    assert EVENT_TYPES == (
        "declaration.submitted",
        "declaration.in_progress",
        "declaration.completed",
        "declaration.rejected",
        "declaration.failed",
        "declaration.stalled",
        "declaration.cancelled",
        "ceb.receipt",
    )


def test_the_event_body_names_the_event_the_declaration_and_its_new_status() -> None:
    status = StatusChanged(
        enterprise_id="ent_a",
        direction=Direction.EXPORT,
        trade_mode=TradeMode.GENERAL,
        status="completed",
        state="completed",
        previous_state="refunding",
        trigger="tax.refund.paid",
        steps={"customs": "closed"},
        figures=Figures(
            declared_value=Decimal("12000.00"), currency="USD", refund=Decimal("11076.00")
        ),
    )
    at = datetime(2026, 11, 23, 12, 0, tzinfo=UTC).isoformat()
    body = json.loads(event_body("evt_9", at, "decl_1", status))
    assert body["id"] == "evt_9" and body["object"] == "event"
    assert body["type"] == "declaration.completed"
    assert body["created"] == "2026-11-23T12:00:00+00:00"
    assert body["declaration_id"] == "decl_1"
    assert body["data"]["previous_state"] == "refunding"
    assert body["data"]["figures"]["refund"] == "11076.00"
    assert "enterprise_id" not in body["data"]


def test_hardening_deals_the_same_plan_for_the_same_seed_and_ids() -> None:
    assert hardening_plan(20261122, "we_a", "evt_1") == hardening_plan(20261122, "we_a", "evt_1")
    # Worked examples of seed 20261122 on endpoint we_a (pinned: a change here changes runs).
    assert hardening_plan(20261122, "we_a", "evt_0") == (0.0, 0.946)  # twice, copy 0.946 s later
    assert hardening_plan(20261122, "we_a", "evt_1") == (1.864,)  # once, 1.864 s late
    assert hardening_plan(20261122, "we_a", "evt_2") == (0.0,)  # once, at once


def test_hardening_duplicates_and_delays_about_the_shares_it_says() -> None:
    """Of 1,000 events: about 30% twice, 30% late, 40% untouched (drawn: 299, 308, 393)."""
    plans = [hardening_plan(20261122, "we_a", f"evt_{i}") for i in range(1000)]
    twice = sum(len(p) == 2 for p in plans)
    late = sum(len(p) == 1 and p[0] > 0 for p in plans)
    assert (twice, late, 1000 - twice - late) == (299, 308, 393)
    assert all(0.5 <= p[1] <= 2.0 for p in plans if len(p) == 2)
    assert all(1.0 <= p[0] <= 3.0 for p in plans if len(p) == 1 and p[0] > 0)
