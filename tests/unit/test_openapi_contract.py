"""Every service's OpenAPI document names each operation and schema cleanly: what client
generators and Spectral need (services/common/contract.py). The apps are built, not started."""

from __future__ import annotations

import importlib
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute

from services.common.contract import operation_id, unclean_operation_ids
from services.common.settings import Settings

APPS = ["gateway.app", "services.customs.app", "services.inspection.app"]
APPS += ["services.forex.app", "services.tax.app"]


def _doc(module: str, data_dir: Path) -> dict[str, Any]:
    app: FastAPI = importlib.import_module(module).create_app(Settings(data_dir=data_dir))
    return app.openapi()


@pytest.mark.parametrize("module", APPS)
def test_every_operation_has_a_clean_unique_id(module: str, tmp_path: Path) -> None:
    doc = _doc(module, tmp_path)
    assert len(doc["paths"]) >= 3
    assert unclean_operation_ids(doc) == {}, "name the route's function for what it does"


@pytest.mark.parametrize("module", APPS)
def test_every_tag_is_described_and_every_schema_has_a_name_of_its_own(
    module: str, tmp_path: Path
) -> None:
    doc = _doc(module, tmp_path)
    used = {t for ops in doc["paths"].values() for op in ops.values() for t in op["tags"]}
    assert {t["name"] for t in doc["tags"]} == used
    assert [t["name"] for t in doc["tags"] if not t["description"]] == [], "describe it in TAGS"
    schemas = doc["components"]["schemas"]
    titles = Counter(s.get("title", name) for name, s in schemas.items())
    assert [t for t, n in titles.items() if n > 1] == []
    assert [n for n in schemas if not n.replace("_", "").isalnum()] == []  # no `Item-Input`
    assert doc["servers"] and doc["info"]["contact"]["name"]


def test_the_gateway_names_the_declaration_operations_for_what_they_do(tmp_path: Path) -> None:
    doc = _doc("gateway.app", tmp_path)
    ids = {
        f"{method.upper()} {path}": op["operationId"]
        for path, ops in doc["paths"].items()
        for method, op in ops.items()
    }
    assert ids["POST /v1/declarations"] == "createDeclaration"
    assert ids["GET /v1/declarations/{declaration_id}"] == "getDeclaration"
    assert ids["GET /v1/declarations/{declaration_id}/events"] == "listDeclarationEvents"
    assert ids["POST /v1/webhook_endpoints"] == "createWebhookEndpoint"
    # The declaration's items: read as numbers or strings, written as strings, so two schemas.
    schemas = doc["components"]["schemas"]
    assert {"ItemInput", "ItemOutput"} <= set(schemas)
    assert schemas["ItemOutput"]["properties"]["quantity"] == {
        "type": "string",
        "title": "Quantity",
    }
    assert "HTTPValidationError" not in schemas  # every 422 is a Problem


def test_an_id_is_the_routes_name_in_camel_case() -> None:
    def endpoint() -> None: ...

    route = APIRoute("/v1/things/{id}", endpoint, name="list_thing_events")
    assert operation_id(route) == "listThingEvents"


def test_the_check_names_what_is_wrong_with_an_id() -> None:
    doc = {
        "paths": {
            "/v1/a": {"get": {"operationId": "read_v1_a_get"}, "post": {"operationId": "submit"}},
            "/v1/b": {"get": {"operationId": "thingsList"}, "post": {"operationId": "createA"}},
            "/v1/c": {"post": {"operationId": "createA"}, "get": {"operationId": "getC"}},
        }
    }
    wrong = unclean_operation_ids(doc)
    assert set(wrong) == {"GET /v1/a", "POST /v1/a", "GET /v1/b", "POST /v1/c"}
    assert "camelCase" in wrong["GET /v1/a"] and "camelCase" in wrong["POST /v1/a"]
    assert "verb" in wrong["GET /v1/b"]
    assert "also the id of POST /v1/b" in wrong["POST /v1/c"]
