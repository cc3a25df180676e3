"""The webhook sender's decisions, as pure functions: signing, backoff, who gets what, hardening.

No I/O and no clock: times, secrets and seeds come in as arguments, so each rule is tested on
its own with worked examples (tests/unit/test_webhook_rules.py).

Signature scheme (Stripe-like). Each attempt carries

    SW-Signature: t=<unix seconds>,v1=<hex>

where hex = HMAC-SHA256(key = the endpoint's secret as UTF-8 bytes, message = f"{t}." + body),
over the exact bytes of the request body. `t` is the time of the attempt, so a receiver can
refuse an old request replayed at it (`tolerance_s`).

Event types are `declaration.<status>`: the public status the declaration has after the move
(submitted, in_progress, completed, rejected, failed, stalled, cancelled). Every move of the
saga is one event, so `declaration.in_progress` comes once per stage; `data.state` says which.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Final

from schemas.api import WEBHOOK_EVENT_TYPES, WEBHOOK_STATUSES, WEBHOOK_WILDCARD
from schemas.messages import StatusChanged

SIGNATURE_HEADER: Final = "SW-Signature"
STATUSES: Final = WEBHOOK_STATUSES
EVENT_TYPES: Final = WEBHOOK_EVENT_TYPES
WILDCARD: Final = WEBHOOK_WILDCARD
DEFAULT_TOLERANCE_S: Final = 300


class SignatureError(ValueError):
    """A webhook request whose signature header is missing, malformed, wrong or too old."""


def event_type(status: str) -> str:
    """The webhook event type of a declaration now in `status`."""
    return f"declaration.{status}"


def event_body(
    event_id: str, occurred_at: str, declaration_id: str, status: StatusChanged
) -> bytes:
    """The JSON body of one event, byte for byte what every attempt of it sends."""
    data = status.model_dump(mode="json", exclude={"enterprise_id"})
    body = {
        "id": event_id,
        "object": "event",
        "type": event_type(status.status),
        "created": occurred_at,
        "declaration_id": declaration_id,
        "data": data,
    }
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The hex HMAC-SHA256 of `f"{timestamp}." + body` under the endpoint's secret."""
    message = f"{timestamp}.".encode() + body
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def signature_header(secret: str, timestamp: int, body: bytes) -> str:
    """The value of the SW-Signature header of one attempt."""
    return f"t={timestamp},v1={sign(secret, timestamp, body)}"


def verify(
    secret: str,
    header: str | None,
    body: bytes,
    *,
    now: int,
    tolerance_s: int = DEFAULT_TOLERANCE_S,
) -> int:
    """Check a SW-Signature header against the body; return its timestamp or raise SignatureError."""
    if not header:
        raise SignatureError(f"no {SIGNATURE_HEADER} header")
    timestamp: int | None = None
    candidates: list[str] = []
    for part in header.split(","):
        name, _, value = part.strip().partition("=")
        if name == "t":
            try:
                timestamp = int(value)
            except ValueError as exc:
                raise SignatureError(f"t={value!r} is not a unix timestamp") from exc
        elif name == "v1":
            candidates.append(value)
    if timestamp is None or not candidates:
        raise SignatureError(f"{SIGNATURE_HEADER} needs t=<unix> and v1=<hex>")
    expected = sign(secret, timestamp, body)
    if not any(hmac.compare_digest(expected, c) for c in candidates):
        raise SignatureError("no v1 signature matches the body")
    if abs(now - timestamp) > tolerance_s:
        raise SignatureError(f"timestamp {timestamp} is more than {tolerance_s}s from now ({now})")
    return timestamp


def jitter(delivery_id: str, attempt: int) -> float:
    """A number in [0, 1) fixed by (delivery, attempt): the jitter of that retry, reproducible."""
    digest = hashlib.sha256(f"{delivery_id}|{attempt}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def backoff_s(attempt: int, *, base_s: float, cap_s: float, jitter: float) -> float:
    """Seconds to wait after failed attempt number `attempt` (1-based), with equal jitter.

    The ceiling doubles from `base_s` (base, 2·base, 4·base, …) up to `cap_s`; the wait is
    between half the ceiling and the ceiling, `jitter` in [0, 1) choosing where.
    """
    ceiling = min(cap_s, base_s * float(2 ** (attempt - 1)))
    return ceiling * (0.5 + 0.5 * jitter)


@dataclass(frozen=True, slots=True)
class Subscriber:
    """What recording a status change needs to know of an endpoint to route an event to it."""

    id: str
    enterprise_id: str
    enabled_events: tuple[str, ...]
    hardening: bool = False


def wants(enabled_events: Sequence[str], kind: str) -> bool:
    """Whether an endpoint that enabled these events wants one of type `kind`."""
    return WILDCARD in enabled_events or kind in enabled_events


def recipients(
    subscribers: Iterable[Subscriber], *, enterprise_id: str, kind: str
) -> list[Subscriber]:
    """The endpoints that get an event: the declaring enterprise's own, and only those that want it."""
    return [
        s for s in subscribers if s.enterprise_id == enterprise_id and wants(s.enabled_events, kind)
    ]


def hardening_plan(
    seed: int, endpoint_id: str, event_id: str, *, twice: float = 0.3, late: float = 0.3
) -> tuple[float, ...]:
    """Delays (seconds) of each copy of an event to a hardening endpoint, seeded by the three ids.

    One copy at once (most events); two copies, the second 0.5–2 s later (`twice` of them); or
    one copy held back 1–3 s, so the declaration's next events overtake it (`late` of them).
    """
    digest = hashlib.sha256(f"{seed}|{endpoint_id}|{event_id}".encode()).digest()
    rng = random.Random(int.from_bytes(digest[:8], "big"))
    roll = rng.random()
    if roll < twice:
        return (0.0, round(rng.uniform(0.5, 2.0), 3))
    if roll < twice + late:
        return (round(rng.uniform(1.0, 3.0), 3),)
    return (0.0,)
