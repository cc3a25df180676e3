"""The one envelope every message travels in, and its decoder."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal, Union

from pydantic import (
    AwareDatetime,
    Field,
    SerializeAsAny,
    TypeAdapter,
    ValidationError,
    create_model,
    model_validator,
)

from schemas.base import Contract, Payload
from schemas.ids import uuid7
from schemas.registry import REGISTRY, model_for


class DecodeError(ValueError):
    """A message that cannot be turned into an envelope; `reason` says why."""

    def __init__(self, reason: str, kind: str) -> None:
        super().__init__(reason)
        self.reason = reason
        self.kind = kind


_IMPLIED = frozenset({"correlation_id"})


class Envelope(Contract):
    """Headers common to every message, and the typed payload that `type` names."""

    id: str = Field(description="UUIDv7 of this message")
    type: str = Field(description="message type, e.g. customs.declaration.accepted")
    schema_version: int = Field(ge=1)
    declaration_id: str = Field(min_length=1, max_length=64)
    correlation_id: str = Field(
        default="",
        description="the id shared by every message of one workflow; absent: the declaration id",
    )
    causation_id: str | None = Field(
        default=None, description="the id of the message that caused this one"
    )
    occurred_at: AwareDatetime
    source: str = Field(description="the service that wrote it")
    clock_offset_s: float = Field(
        default=0.0,
        ge=0,
        description="sandbox clock: how far the declaration's simulated time is ahead of real "
        "time when this message was sent. A command's receiver decides as of its own time plus "
        "this; a reply carries the offset of the command it answers.",
    )
    payload: SerializeAsAny[Payload]

    @model_validator(mode="before")
    @classmethod
    def _typed_payload(cls, data: Any) -> Any:
        if isinstance(data, dict) and not data.get("correlation_id"):
            data = {**data, "correlation_id": data.get("declaration_id")}
        if not isinstance(data, dict) or isinstance(data.get("payload"), Payload):
            return data
        model = model_for(str(data.get("type")))
        if model is None:
            raise ValueError(f"unknown message type {data.get('type')!r}")
        version = data.get("schema_version")
        if version != model.VERSION:
            raise ValueError(
                f"schema_version {version!r} of {model.TYPE} is not supported (expected {model.VERSION})"
            )
        try:
            payload = model.model_validate(data.get("payload"))
        except ValidationError as exc:
            problems = "; ".join(
                f"payload.{'.'.join(str(p) for p in e['loc'])}: {e['msg']}"
                for e in exc.errors(include_url=False)[:5]
            )
            raise ValueError(f"invalid {model.TYPE} payload: {problems}") from None
        return {**data, "payload": payload}

    @model_validator(mode="after")
    def _type_matches_payload(self) -> Envelope:
        if self.payload.TYPE != self.type:
            raise ValueError(f"type {self.type!r} does not match payload {self.payload.TYPE!r}")
        return self

    def model_dump_json(self, **kwargs: Any) -> str:
        """Fields at their default are left out, the payload's too: a message carries what it
        says, not every empty field of its model, and a decoder fills the defaults in again
        (the same envelope, compared field by field). A clock never moved (`clock_offset_s`
        0) leaves the message as it was before the field existed; a correlation id that is
        the declaration's id (a workflow's own messages) is not sent twice.
        """
        return super().model_dump_json(**self._compact(kwargs))

    def model_dump(self, **kwargs: Any) -> dict[str, Any]:
        """As `model_dump_json`: no field at its default."""
        return super().model_dump(**self._compact(kwargs))

    def _compact(self, kwargs: dict[str, Any]) -> dict[str, Any]:
        if kwargs.setdefault("exclude_defaults", True) and "exclude" not in kwargs:
            if self.correlation_id == self.declaration_id:
                kwargs["exclude"] = _IMPLIED
        return kwargs

    def __eq__(self, other: object) -> bool:
        """Equal when the fields are, whether decoded as one type's envelope or built generic."""
        if not isinstance(other, Envelope):
            return NotImplemented
        return self.__dict__ == other.__dict__

    def __hash__(self) -> int:
        return hash(self.id)

    def sandbox_time(self, at: datetime) -> datetime:
        """The declaration's simulated time when the real clock shows `at`."""
        return at + timedelta(seconds=self.clock_offset_s)

    def to_bytes(self) -> bytes:
        """Serialize once, for the outbox and the wire."""
        return self.model_dump_json().encode()


def whole(raw: bytes | str) -> dict[str, Any]:
    """A message as JSON with every field, defaults too, as it read before messages travelled
    without them: the timeline and the journal views show it so. Unreadable: as it is."""
    try:
        envelope = Envelope.model_validate_json(raw)
    except ValueError:
        return dict(json.loads(raw))
    exclude = None if envelope.clock_offset_s else {"clock_offset_s"}
    return envelope.model_dump(mode="json", exclude_defaults=False, exclude=exclude)


def now() -> datetime:
    """The current UTC time."""
    return datetime.now(UTC)


def new_envelope(
    payload: Payload,
    *,
    declaration_id: str,
    source: str,
    correlation_id: str | None = None,
    causation_id: str | None = None,
    occurred_at: datetime | None = None,
    clock_offset_s: float = 0.0,
) -> Envelope:
    """Wrap a payload in a fresh envelope."""
    message_id = uuid7()
    return Envelope(
        id=message_id,
        type=payload.TYPE,
        schema_version=payload.VERSION,
        declaration_id=declaration_id,
        correlation_id=correlation_id or declaration_id,
        causation_id=causation_id,
        occurred_at=occurred_at or now(),
        source=source,
        clock_offset_s=clock_offset_s,
        payload=payload,
    )


def reply(
    to: Envelope, payload: Payload, *, source: str, occurred_at: datetime | None = None
) -> Envelope:
    """An envelope caused by `to`: same declaration, correlation and sandbox clock;
    causation = to.id."""
    return new_envelope(
        payload,
        declaration_id=to.declaration_id,
        source=source,
        correlation_id=to.correlation_id,
        causation_id=to.id,
        occurred_at=occurred_at,
        clock_offset_s=to.clock_offset_s,
    )


class _Typed(Envelope):
    """An envelope of one registered type: `type` a literal, `payload` that type's model.

    Validated in one pass of pydantic-core from the JSON, without the generic look-up of the
    payload model (which makes pydantic hand the envelope to Python as a dict, then validate
    it again): the field types say what the look-up and the match check say.
    """

    @model_validator(mode="after")
    def _typed_payload(self) -> _Typed:  # replaces the generic look-up
        if not self.correlation_id:  # absent on the wire: the declaration's own workflow
            object.__setattr__(self, "correlation_id", self.declaration_id)
        return self

    @model_validator(mode="after")
    def _type_matches_payload(self) -> _Typed:
        return self


def _typed_envelopes() -> TypeAdapter[Envelope]:
    """One adapter over every registered type's envelope, told apart by `type`."""
    typed: list[Any] = [
        create_model(
            f"{model.__name__}Envelope",
            __base__=_Typed,
            __module__=__name__,
            type=(Literal[type_], ...),  # type: ignore[arg-type]  # a literal made at run time
            schema_version=(Literal[model.VERSION], ...),  # type: ignore[arg-type]
            payload=(model, ...),
        )
        for type_, model in REGISTRY.items()
    ]
    union: Any = Annotated[Union[tuple(typed)], Field(discriminator="type")]  # noqa: UP007
    adapter: TypeAdapter[Envelope] = TypeAdapter(union)
    return adapter


_TYPED = _typed_envelopes()

DecodeFailure = Literal["unparseable", "unknown_type", "wrong_version", "invalid"]


def decode(raw: bytes | None) -> Envelope:
    """Parse and validate one message; raise DecodeError naming the reason.

    The typed adapter decodes what is valid; what it refuses goes through the generic model
    once more, whose errors name the reason as operators read it in dead letters.
    """
    if raw is None:
        raise DecodeError("empty message (no value)", "unparseable")
    try:
        return _TYPED.validate_json(raw)
    except ValidationError:
        pass
    try:
        return Envelope.model_validate_json(raw)
    except ValidationError as exc:
        errors = exc.errors(include_url=False)
        kind = "invalid"
        if any(e["type"] == "json_invalid" for e in errors):
            kind = "unparseable"
        elif any("unknown message type" in str(e.get("msg")) for e in errors):
            kind = "unknown_type"
        elif any("schema_version" in str(e.get("msg")) for e in errors):
            kind = "wrong_version"
        detail = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or '<message>'}: {e['msg']}" for e in errors[:5]
        )
        raise DecodeError(detail, kind) from exc
