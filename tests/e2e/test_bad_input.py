"""Bad input at the gateway: each a problem+json naming the field and the rule, nothing stored.

Every case is sent by an enterprise of its own, whose list must stay empty afterwards.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from schemas.samples import sample_declaration
from tests.e2e.conftest import System
from tests.e2e.steady_load import new_enterprise

JSON = {"Content-Type": "application/json"}


@pytest.fixture(scope="module")
def client(system: System) -> Iterator[httpx.Client]:
    api_key = new_enterprise(system, system.admin_token, "bad-input")
    with system.client(api_key) as c:
        yield c
    # Whatever was refused left no declaration behind.
    with system.client(api_key) as c:
        assert c.get("/v1/declarations").json()["data"] == []


def _problem(resp: httpx.Response, status: int, field: str, rule: str) -> dict[str, Any]:
    assert resp.status_code == status, resp.text
    assert resp.headers["content-type"].startswith("application/problem+json")
    body = resp.json()
    assert {"type", "title", "status", "detail"} <= set(body)
    found = [(e["field"], e["rule"]) for e in body.get("errors", [])]
    assert (field, rule) in found, found
    return body


def _with_item(**changes: Any) -> dict[str, Any]:
    body = sample_declaration("export", "0110", "happy")
    body["items"][0].update(changes)
    return body


def test_an_oversized_body_is_refused_with_413_before_it_is_read(client: httpx.Client) -> None:
    huge = json.dumps({**sample_declaration(), "reference": "x" * 2_000_000})
    body = _problem(
        client.post("/v1/declarations", content=huge, headers=JSON), 413, "<body>", "max_body_bytes"
    )
    assert "1048576" in body["detail"] and "SW_MAX_BODY_BYTES" in body["detail"]
    # Also when the size is not announced (chunked): refused as it streams in.
    chunks = (b"x" * 65536 for _ in range(40))
    resp = client.post("/v1/declarations", content=chunks, headers=JSON)
    _problem(resp, 413, "<body>", "max_body_bytes")


@pytest.mark.parametrize(
    ("content_type", "content"),
    [
        ("text/plain", json.dumps(sample_declaration())),
        ("application/x-www-form-urlencoded", "direction=export"),
        ("application/xml", "<declaration/>"),
    ],
)
def test_a_body_that_is_not_json_is_refused_with_415(
    client: httpx.Client, content_type: str, content: str
) -> None:
    resp = client.post("/v1/declarations", content=content, headers={"Content-Type": content_type})
    body = _problem(resp, 415, "<body>", "media_type")
    assert content_type in body["detail"]


def test_missing_content_type_is_refused_with_415(client: httpx.Client) -> None:
    request = client.build_request("POST", "/v1/declarations", content=b'{"a": 1}')
    assert "content-type" not in request.headers
    _problem(client.send(request), 415, "<body>", "media_type")


def test_invalid_utf8_names_the_byte(client: httpx.Client) -> None:
    raw = json.dumps(sample_declaration()).encode().replace(b"smartphones", b"smart\xff\xfephones")
    body = _problem(
        client.post("/v1/declarations", content=raw, headers=JSON), 400, "<body>", "utf8"
    )
    assert "UTF-8" in body["detail"] and "byte" in body["detail"]


def test_malformed_json_names_line_and_column(client: httpx.Client) -> None:
    body = _problem(
        client.post("/v1/declarations", content=b'{"direction": "export",\n  oops}', headers=JSON),
        400,
        "<body>",
        "json",
    )
    assert "line 2" in body["detail"]


@pytest.mark.parametrize("depth", [40, 5000, 200_000])
def test_deeply_nested_json_is_refused(client: httpx.Client, depth: int) -> None:
    body = json.dumps(sample_declaration())[:-1] + ', "extra": ' + "[" * depth + "]" * depth + "}"
    _problem(
        client.post("/v1/declarations", content=body, headers=JSON), 400, "<body>", "json_depth"
    )


def test_a_number_too_long_to_convert_is_refused(client: httpx.Client) -> None:
    body = json.dumps(sample_declaration()).replace('"100"', "1" + "0" * 5000)
    _problem(
        client.post("/v1/declarations", content=body, headers=JSON), 400, "<body>", "json_number"
    )


def test_huge_but_shallow_json_is_bounded_by_the_models(client: httpx.Client) -> None:
    body = sample_declaration()
    body["items"] = body["items"] * 5000  # well under the byte limit, far over 50 lines
    resp = client.post("/v1/declarations", json=body)
    found = _problem(resp, 422, "items", "too_long")
    assert len(found["errors"]) == 1


@pytest.mark.parametrize(
    ("changes", "field", "rule"),
    [
        ({"quantity": "-5"}, "items[0].quantity", "greater_than"),
        ({"quantity": "0"}, "items[0].quantity", "greater_than"),
        ({"quantity": "100000000"}, "items[0].quantity", "less_than_equal"),
        ({"quantity": 1e308}, "items[0].quantity", "decimal_max_digits"),
        ({"unit_price": "-0.01"}, "items[0].unit_price", "greater_than_equal"),
        ({"unit_price": "1e30"}, "items[0].unit_price", "decimal_max_digits"),
        ({"unit_price": "NaN"}, "items[0].unit_price", "finite_number"),
        ({"unit_price": "Infinity"}, "items[0].unit_price", "finite_number"),
        ({"unit_price": "0.00001"}, "items[0].unit_price", "decimal_max_places"),
        ({"hs_code": "851713000"}, "items[0].hs_code", "value_error"),
        ({"hs_code": "85171300001"}, "items[0].hs_code", "value_error"),
        ({"hs_code": "85171300O0"}, "items[0].hs_code", "value_error"),
        ({"description": ""}, "items[0].description", "string_too_short"),
        ({"origin_country": "XXX"}, "items[0].origin_country", "value_error"),
    ],
)
def test_bad_figures_and_codes_name_the_field_and_rule(
    client: httpx.Client, changes: dict[str, Any], field: str, rule: str
) -> None:
    body = _problem(client.post("/v1/declarations", json=_with_item(**changes)), 422, field, rule)
    # Only the culprit is blamed: no echo on the items list for its item's error.
    assert [e["field"] for e in body["errors"]] == [field]
    assert field in body["detail"]


@pytest.mark.parametrize(
    ("uscc", "message"),
    [
        ("91350100M000100Y44", "check character is '4', expected '3'"),
        ("91350100M000100Y4", "18"),
        ("91350100M000100I43", ""),
    ],
)
def test_social_credit_codes_with_bad_check_characters_are_refused(
    client: httpx.Client, uscc: str, message: str
) -> None:
    declaration = sample_declaration()
    declaration["declarant"]["uscc"] = uscc
    body = _problem(
        client.post("/v1/declarations", json=declaration), 422, "declarant.uscc", "value_error"
    )
    assert "unified social credit code" in body["detail"] and message in body["detail"]


def test_wrong_types_and_unknown_values_name_the_field(client: httpx.Client) -> None:
    cases = [
        ({"direction": "sideways"}, "direction", "enum"),
        ({"trade_mode": "9999"}, "trade_mode", "enum"),
        ({"currency": "XXX"}, "currency", "value_error"),
        ({"items": []}, "items", "too_short"),
        ({"items": "phones"}, "items", "tuple_type"),
        ({"declarant": None}, "declarant", "model_attributes_type"),
    ]
    for changes, field, rule in cases:
        body = copy.deepcopy(sample_declaration())
        body.update(changes)
        _problem(client.post("/v1/declarations", json=body), 422, field, rule)
    _problem(client.post("/v1/declarations", json=[1, 2]), 422, "<body>", "model_attributes_type")
