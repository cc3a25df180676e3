"""The AsyncAPI 3.0 document of every topic and message, built from the registry."""

from __future__ import annotations

from typing import Any

from schemas.deadletter import DeadLetter
from schemas.envelope import Envelope
from schemas.registry import REGISTRY
from schemas.topics import AGENCIES, DEADLETTER, STATUS, all_topics, internal_topics, topic_for


def _sender(topic: str) -> tuple[str, str]:
    """Who sends on a topic and who receives, for the operation's summary."""
    for agency in AGENCIES:
        if topic == f"sw.{agency}.commands":
            return "gateway", agency
        if topic == f"sw.{agency}.events":
            return agency, "gateway"
    if topic == STATUS:
        return "gateway", "anyone (load tool, integrators; another gateway's dashboard)"
    return "every service", "operators (GET /v1/admin/deadletters)"


FRAMING = (
    "On the internal topics (sw.<agency>.commands, sw.<agency>.events) a Kafka record holds "
    "one envelope (a JSON object) or a frame: a JSON array of envelopes, all of one "
    "partition, in the order they were written, one to a line (`[\\n{…},\\n{…}\\n]`), as "
    "CloudEvents' batched mode. A frame's record has no key; each envelope is deduplicated "
    "by its id and, if unreadable, dead-lettered alone. sw.declarations.status and "
    "sw.deadletter hold one message a record."
)


def _add_frame(channel: dict[str, Any], components: dict[str, Any]) -> None:
    """The frame message of an internal channel: an array of that channel's envelopes."""
    names = sorted(channel["messages"])
    title = "".join(part.title() for part in channel["address"].split(".")[1:]) + "Frame"
    components["messages"][title] = {
        "name": f"{channel['address']}.frame",
        "title": title,
        "summary": "Several of this channel's envelopes in one Kafka record.",
        "description": FRAMING,
        "contentType": "application/json",
        "payload": {
            "type": "array",
            "minItems": 2,
            "items": {
                "oneOf": [
                    {"$ref": f"#/components/schemas/{components['messages'][n]['title']}Envelope"}
                    for n in names
                ]
            },
        },
    }
    channel["description"] = FRAMING
    channel["messages"][title] = {"$ref": f"#/components/messages/{title}"}


def _role(topic: str) -> tuple[str, str]:
    """The tag of a topic's operation, and what the operation does, for its description."""
    for agency in AGENCIES:
        if topic == f"sw.{agency}.commands":
            return agency, (
                f"The gateway's saga sends {agency} the commands of each declaration's next "
                f"step. {agency} consumes them in its consumer group, at least once, and "
                "handles each envelope id once (its inbox)."
            )
        if topic == f"sw.{agency}.events":
            return agency, (
                f"{agency} publishes what it decided, through its outbox, in the transaction "
                "of its state change. The gateway's saga consumes them to move each "
                "declaration on."
            )
    if topic == STATUS:
        return "public", (
            "The gateway publishes every change of a declaration's public status, one record "
            "an event, keyed by declaration id. Anyone may read it; docs/kafka-clients.md "
            "tells which Kafka clients read it with which settings."
        )
    return "operations", (
        "Any service parks a message it could not read or handle here, with the reason, and "
        "carries on. Operators list and replay them: GET /v1/admin/deadletters."
    )


# Who answers for the contracts (AsyncAPI and every service's OpenAPI document).
CONTACT = {"name": "Single window simulator maintainers"}
TAGS = {
    **{a: f"The {a} agency's commands and events." for a in AGENCIES},
    "public": "What anyone outside the single window may read.",
    "operations": "What operators watch.",
}


def asyncapi_document() -> dict[str, Any]:
    """An AsyncAPI 3.0 document of every topic and message, generated from the registry.

    Channels are the topics; each message is a registered payload model (its schema is the
    pydantic one) carried in the envelope (its headers); operations say who sends each.
    """
    channels: dict[str, Any] = {}
    for topic in all_topics():
        channels[topic.replace(".", "_")] = {"address": topic, "messages": {}}
    components: dict[str, Any] = {"messages": {}, "schemas": {}}

    def add_schema(model: type[Any]) -> None:
        schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
        for sub, sub_schema in schema.pop("$defs", {}).items():
            components["schemas"][sub] = sub_schema
        components["schemas"][model.__name__] = schema

    for type_, model in sorted(REGISTRY.items()):
        name = model.__name__
        add_schema(model)
        # The Kafka value is the whole envelope, its `payload` the typed body.
        components["schemas"][f"{name}Envelope"] = {
            "allOf": [{"$ref": "#/components/schemas/Envelope"}],
            "type": "object",
            "properties": {
                "type": {"const": type_},
                "payload": {"$ref": f"#/components/schemas/{name}"},
            },
            "required": ["payload"],
        }
        components["messages"][name] = {
            "name": type_,
            "title": name,
            "summary": model.SUMMARY,
            "contentType": "application/json",
            "payload": {"$ref": f"#/components/schemas/{name}Envelope"},
        }
        channel = channels[topic_for(type_, model.KIND).replace(".", "_")]
        channel["messages"][name] = {"$ref": f"#/components/messages/{name}"}
    add_schema(DeadLetter)
    components["messages"]["DeadLetter"] = {
        "name": "deadletter",
        "title": "DeadLetter",
        "summary": "A message a consumer could not handle, with the reason (not enveloped).",
        "contentType": "application/json",
        "payload": {"$ref": "#/components/schemas/DeadLetter"},
    }
    channels[DEADLETTER.replace(".", "_")]["messages"]["DeadLetter"] = {
        "$ref": "#/components/messages/DeadLetter"
    }
    for topic in internal_topics():
        _add_frame(channels[topic.replace(".", "_")], components)
    envelope = Envelope.model_json_schema(ref_template="#/components/schemas/{model}")
    envelope.pop("$defs", None)
    envelope["properties"]["payload"] = {
        "type": "object",
        "description": "the typed body `type` names; each message's schema narrows it",
    }
    components["schemas"]["Envelope"] = envelope
    operations: dict[str, Any] = {}
    for channel_id, channel in channels.items():
        sender, receiver = _sender(channel["address"])
        tag, description = _role(channel["address"])
        operations[f"send_{channel_id}"] = {
            "action": "send",
            "channel": {"$ref": f"#/channels/{channel_id}"},
            "summary": f"{sender} sends on {channel['address']}; {receiver} receives",
            "description": description,
            "tags": [{"name": tag}],
            "messages": [
                {"$ref": f"#/channels/{channel_id}/messages/{name}"} for name in channel["messages"]
            ],
        }
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "Single window simulator",
            "version": "1.0.0",
            "description": "Every message but a dead letter is a JSON envelope keyed by "
            "declaration id: id, type, schema version, correlation and causation ids, time, "
            "source, and `payload`, the typed body named by `type`. " + FRAMING,
            "contact": CONTACT,
            "license": {"name": "Apache-2.0"},
            "tags": [{"name": n, "description": d} for n, d in TAGS.items()],
        },
        "defaultContentType": "application/json",
        "servers": {
            "embedded": {
                "host": "127.0.0.1:9092",
                "protocol": "kafka",
                "description": "the embedded broker of `singlewindow up` (SW_KAFKA_BOOTSTRAP)",
            }
        },
        "channels": channels,
        "operations": operations,
        "components": components,
    }
