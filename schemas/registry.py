"""The one map from message type to payload model (schemas/asyncapi.py documents it)."""

from __future__ import annotations

import inspect

from schemas import messages
from schemas.base import Payload
from schemas.topics import topic_for

REGISTRY: dict[str, type[Payload]] = {
    obj.TYPE: obj
    for obj in vars(messages).values()
    if inspect.isclass(obj) and issubclass(obj, Payload) and hasattr(obj, "TYPE")
}


def model_for(message_type: str) -> type[Payload] | None:
    """The payload model registered for a type, or None."""
    return REGISTRY.get(message_type)


def topic_of(payload: Payload) -> str:
    """The topic a payload travels on."""
    return topic_for(payload.TYPE, payload.KIND)
