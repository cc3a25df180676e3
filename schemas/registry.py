"""The one map from message type to payload model; the AsyncAPI document is built from it."""

from __future__ import annotations

import inspect
from typing import Any

from schemas import messages
from schemas.base import Payload
from schemas.topics import all_topics, topic_for

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


def asyncapi_document() -> dict[str, Any]:
    """An AsyncAPI 3.0 document of every topic and message, generated from the registry."""
    from schemas.envelope import Envelope

    channels: dict[str, Any] = {}
    for topic in all_topics():
        channels[topic.replace(".", "_")] = {"address": topic, "messages": {}}
    components: dict[str, Any] = {"messages": {}, "schemas": {}}
    for type_, model in sorted(REGISTRY.items()):
        name = model.__name__
        schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
        for sub, sub_schema in schema.pop("$defs", {}).items():
            components["schemas"][sub] = sub_schema
        components["schemas"][name] = schema
        components["messages"][name] = {
            "name": type_,
            "title": name,
            "summary": model.SUMMARY,
            "contentType": "application/json",
            "payload": {"$ref": f"#/components/schemas/{name}"},
            "headers": {"$ref": "#/components/schemas/EnvelopeHeaders"},
        }
        channel = channels[topic_for(type_, model.KIND).replace(".", "_")]
        channel["messages"][name] = {"$ref": f"#/components/messages/{name}"}
    envelope = Envelope.model_json_schema()
    envelope["properties"].pop("payload", None)
    components["schemas"]["EnvelopeHeaders"] = envelope
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "Single window simulator",
            "version": "1.0.0",
            "description": "Every message is a JSON envelope keyed by declaration id; "
            "`payload` holds the typed body named by `type`.",
        },
        "defaultContentType": "application/json",
        "channels": channels,
        "components": components,
    }
