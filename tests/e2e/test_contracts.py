"""The contracts the gateway serves, checked on the running system: /openapi.json is a valid
OpenAPI document, /asyncapi.json a well-formed AsyncAPI 3 document whose schemas the real
messages satisfy, and schemathesis finds no 5xx and no response breaking its own schema or
media type (the one schemathesis run of the suite, bounded by MAX_EXAMPLES)."""

from __future__ import annotations

import json
import subprocess
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import jsonschema
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from openapi_spec_validator import validate as validate_openapi
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
)

from schemas.envelope import new_envelope
from schemas.messages import Explained, RefundPaid
from schemas.registry import REGISTRY
from schemas.topics import AGENCIES, all_topics, topic_for
from singlewindow.samples import sample_declaration
from tests.e2e.conftest import System
from tests.e2e.steady_load import new_enterprise
from tests.support import NODE_BIN, ROOT

# Paths schemathesis leaves alone: an endless event stream and the dashboard's page.
NOT_FUZZED = r"^/v1/stream$|^/$"
MAX_EXAMPLES = 10  # per operation and mode: the run stays well within a minute


def _get(system: System, path: str) -> dict[str, Any]:
    resp = httpx.get(system.url("gateway") + path, timeout=10)
    assert resp.status_code == 200, resp.text
    return dict(resp.json())


# --- OpenAPI -----------------------------------------------------------------------------------


def test_openapi_document_is_valid_and_generated_from_the_code(system: System) -> None:
    doc = _get(system, "/openapi.json")
    validate_openapi(doc)  # raises on any breach of the OpenAPI 3.1 specification
    paths = doc["paths"]
    assert "/v1/declarations" in paths and "/v1/test_helpers/clock/advance" in paths
    door = paths["/v1/ceb/messages"]["post"]
    assert "application/xml" in door["requestBody"]["content"]
    assert "application/xml" in door["responses"]["400"]["content"]
    request = doc["components"]["schemas"]["DeclarationRequest"]
    assert {"reference", "scenario", "items"} <= set(request["properties"])


# --- AsyncAPI ----------------------------------------------------------------------------------


def _refs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                yield value
            else:
                yield from _refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from _refs(value)


def _resolve(doc: dict[str, Any], ref: str) -> Any:
    assert ref.startswith("#/"), ref
    node: Any = doc
    for part in ref[2:].split("/"):
        part = part.replace("~1", "/").replace("~0", "~")
        assert isinstance(node, dict) and part in node, f"{ref} does not resolve at {part!r}"
        node = node[part]
    return node


def _validator(doc: dict[str, Any], schema_name: str) -> jsonschema.Draft202012Validator:
    """A validator of one component schema, its references resolved in the document."""
    root = {"$ref": f"#/components/schemas/{schema_name}", "components": doc["components"]}
    return jsonschema.Draft202012Validator(root, format_checker=jsonschema.FormatChecker())


def test_asyncapi_document_describes_every_topic_and_message(system: System) -> None:
    doc = _get(system, "/asyncapi.json")
    assert doc["asyncapi"] == "3.0.0"
    assert doc["info"]["title"] and doc["info"]["version"]
    for ref in set(_refs(doc)):  # every reference resolves, nothing dangles
        _resolve(doc, ref)
    for schema in doc["components"]["schemas"].values():
        jsonschema.Draft202012Validator.check_schema(schema)  # each a valid JSON Schema
    for server in doc["servers"].values():
        assert server["host"] and server["protocol"] == "kafka"
    # Channels: one per topic, addressed by the topic name.
    addresses = {c["address"]: cid for cid, c in doc["channels"].items()}
    assert set(addresses) == set(all_topics())
    # Messages: each registered type on the channel of its topic, with a payload schema.
    messages = doc["components"]["messages"]
    for type_, model in REGISTRY.items():
        message = messages[model.__name__]
        assert message["name"] == type_ and message["contentType"] == "application/json"
        assert message["summary"] == model.SUMMARY
        channel = doc["channels"][addresses[topic_for(type_, model.KIND)]]
        assert channel["messages"][model.__name__] == {
            "$ref": f"#/components/messages/{model.__name__}"
        }
        payload = _resolve(doc, message["payload"]["$ref"])
        assert payload["properties"]["type"] == {"const": type_}
    # Operations: every channel has its sender; each operation's messages are its channel's.
    operations = doc["operations"]
    assert {o["channel"]["$ref"] for o in operations.values()} == {
        f"#/channels/{cid}" for cid in doc["channels"]
    }
    for op_id, operation in operations.items():
        assert operation["action"] in ("send", "receive"), op_id
        channel_ref = operation["channel"]["$ref"]
        assert operation["messages"], op_id
        for message_ref in operation["messages"]:
            assert message_ref["$ref"].startswith(channel_ref + "/messages/"), op_id


def test_real_messages_satisfy_their_asyncapi_schemas(system: System) -> None:
    doc = _get(system, "/asyncapi.json")
    with system.client() as client:
        resp = client.post("/v1/declarations", json=sample_declaration(scenario="red_channel"))
        declaration_id = resp.json()["id"]
        system.wait_terminal(client, declaration_id)
        timeline = client.get(f"/v1/declarations/{declaration_id}/events").json()["data"]
    checked = set()
    for entry in timeline:  # every payload the gateway sent or received on this journey
        model = REGISTRY[entry["type"]]
        errors = list(_validator(doc, model.__name__).iter_errors(entry["payload"]))
        assert errors == [], (entry["type"], [e.message for e in errors])
        checked.add(entry["type"])
    assert {"customs.declaration.accepted", "inspection.goods.passed", "tax.refund.paid"} <= (
        checked
    )
    # And a whole envelope, as it travels on Kafka, against its message's schema.
    paid = RefundPaid(
        refund=Explained(amount=1, base=1, rate=1, formula="1 × 1"), lines=(), method="免退"
    )
    envelope = new_envelope(paid, declaration_id="d-1", source="tax").model_dump(mode="json")
    assert list(_validator(doc, "RefundPaidEnvelope").iter_errors(envelope)) == []
    envelope["type"] = "tax.refund.denied"
    assert list(_validator(doc, "RefundPaidEnvelope").iter_errors(envelope)) != []


# --- Spectral ----------------------------------------------------------------------------------


def test_the_documents_lint_clean_in_spectral(system: System, tmp_path: Path) -> None:
    """No error and no warning from `spectral:oas` and `spectral:asyncapi` (.spectral.yaml) on
    the gateway's two documents and each agency's OpenAPI document.

    Two spoiled copies (no servers; an operation without a description) show the rules run."""
    spectral = NODE_BIN / "spectral"
    assert spectral.exists(), "Spectral is not installed: `make node-tools` installs it"
    openapi, asyncapi = _get(system, "/openapi.json"), _get(system, "/asyncapi.json")
    spoiled_openapi = {k: v for k, v in openapi.items() if k != "servers"}
    spoiled_asyncapi = json.loads(json.dumps(asyncapi))
    del next(iter(spoiled_asyncapi["operations"].values()))["description"]
    files = {
        "openapi.json": openapi,
        "asyncapi.json": asyncapi,
        "spoiled-openapi.json": spoiled_openapi,
        "spoiled-asyncapi.json": spoiled_asyncapi,
    }
    for agency in AGENCIES:
        answer = httpx.get(system.url(agency) + "/openapi.json", timeout=10)
        files[f"{agency}-openapi.json"] = answer.json()
    for name, doc in files.items():
        (tmp_path / name).write_text(json.dumps(doc))
    ruleset = str(ROOT / ".spectral.yaml")
    run = subprocess.run(
        [str(spectral), "lint", "--ruleset", ruleset, "--format", "json", "--quiet"]
        + [str(tmp_path / name) for name in files],
        capture_output=True,
        text=True,
        timeout=120,
    )
    results = json.loads(run.stdout or "[]")
    by_file: dict[str, set[str]] = {name: set() for name in files}
    for result in results:
        if result["severity"] <= 1:  # 0 error, 1 warning (2 information, 3 hint)
            by_file[Path(result["source"]).name].add(result["code"])
    assert by_file == {
        **{name: set() for name in files},
        "spoiled-openapi.json": {"oas3-api-servers"},
        "spoiled-asyncapi.json": {"asyncapi-3-operation-description"},
    }, run.stderr


# --- schemathesis against the live gateway -------------------------------------------------------


@pytest.fixture(scope="module")
def fuzz_key(system: System) -> str:
    """An enterprise of its own, so what the fuzzer does stays out of the other tests' way."""
    return new_enterprise(system, system.admin_token, "Schemathesis Co.")


def _fuzz(operation: Any, mode: GenerationMode, token: str, calls: Counter[int]) -> None:
    """Call one operation with generated requests; raise what the checks find."""

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(
        max_examples=MAX_EXAMPLES,
        derandomize=True,  # the same examples every run
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
        phases=[Phase.explicit, Phase.generate],
    )
    def call(case: Any) -> None:
        response = case.call_and_validate(
            headers={"Authorization": f"Bearer {token}"},
            checks=[not_a_server_error, response_schema_conformance, content_type_conformance],
            timeout=15,
        )
        calls[response.status_code] += 1
        media = response.headers.get("content-type", [""])[0]
        if response.status_code == 400 and media.startswith("application/xml"):
            # the CEB door's format error: a CEB900 receipt naming the element and the rule
            assert b"CEB900Message" in response.content and b"[rule " in response.content
        elif response.status_code >= 400:  # every refusal is a problem document (RFC 9457)
            assert response.headers["content-type"][0].startswith("application/problem+json")
            problem = response.json()
            assert {"type", "title", "status", "detail"} <= set(problem), problem
            assert problem["status"] == response.status_code, problem

    call()


def test_the_gateway_answers_no_5xx_and_keeps_to_its_schema(system: System, fuzz_key: str) -> None:
    """Every operation of /openapi.json, valid and invalid requests, the same ones every run.

    Admin paths are called with the admin token, the rest with a fresh enterprise's key.
    """
    schema = schemathesis.openapi.from_url(system.url("gateway") + "/openapi.json")
    schema = schema.exclude(path_regex=NOT_FUZZED)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) > 15  # the whole API, not a corner of it
    failures: dict[str, str] = {}
    calls: Counter[int] = Counter()
    for operation in operations:
        token = system.admin_token if operation.path.startswith("/v1/admin") else fuzz_key
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            try:
                _fuzz(operation, mode, token, calls)
            except Unsatisfiable:
                continue  # nothing invalid to send (no parameters, or only free strings)
            except Exception as exc:  # collect every operation's failure, then report all
                failures[f"{operation.label} ({mode.value})"] = f"{type(exc).__name__}: {exc}"
    assert failures == {}, "\n\n".join(f"{k}\n{v[:2000]}" for k, v in failures.items())
    assert calls[200] and calls[202] and calls[422]  # it reached real work and real refusals
