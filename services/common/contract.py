"""What every service's OpenAPI document says besides its routes, so that generators and
linters take it as it is: clean operation ids, one name per schema, described tags, a server
and a contact (the `spectral:oas` ruleset)."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any

from fastapi import FastAPI
from fastapi.routing import APIRoute

from schemas.asyncapi import CONTACT

# The first word of an operation id says what it does; the rest names what it acts on.
VERBS = frozenset(
    {
        "advance",
        "cancel",
        "check",
        "create",
        "delete",
        "file",
        "force",
        "get",
        "list",
        "receive",
        "redeliver",
        "replay",
        "retry",
        "set",
        "stream",
        "submit",
        "update",
    }
)
_CLEAN_ID = re.compile(r"^[a-z]+(?:[A-Z][a-z0-9]*)+$")
LICENSE = {"name": "Apache-2.0", "identifier": "Apache-2.0"}
SERVERS = [{"url": "/", "description": "this service, where the document was read"}]


def operation_id(route: APIRoute) -> str:
    """A route's operationId: its name in camelCase (`get_declaration` → `getDeclaration`).

    Passed to FastAPI as `generate_unique_id_function`, so a new route gets a clean id by
    being named for what it does; `unclean_operation_ids` tells when it is not."""
    head, *rest = route.name.split("_")
    return head + "".join(word[:1].upper() + word[1:] for word in rest)


def unclean_operation_ids(doc: Mapping[str, Any]) -> dict[str, str]:
    """Each operation (`METHOD path`) whose id is not a verb of VERBS and a noun in camelCase,
    or is another operation's too, with what is wrong."""
    seen: dict[str, str] = {}
    wrong: dict[str, str] = {}
    for label, operation in _operations(doc):
        found = str(operation.get("operationId", ""))
        verb = re.split(r"(?=[A-Z])", found)[0]
        if not _CLEAN_ID.match(found):
            wrong[label] = f"{found!r} is not camelCase of two words or more"
        elif verb not in VERBS:
            wrong[label] = f"{found!r} does not start with a verb of {sorted(VERBS)}"
        elif found in seen:
            wrong[label] = f"{found!r} is also the id of {seen[found]}"
        seen.setdefault(found, label)
    return wrong


def shape_openapi(app: FastAPI, tags: Mapping[str, str]) -> None:
    """Finish `app`'s OpenAPI document once it is generated: servers, contact and licence;
    the global tags (described by `tags`, in its order); a name and title of its own for each
    schema pydantic splits in two; no component that nothing refers to."""
    generate = app.openapi
    shaped: dict[str, Any] = {}

    def openapi() -> dict[str, Any]:
        if not shaped:
            doc = generate()
            doc["info"].update(contact=CONTACT, license=LICENSE)
            doc["servers"] = SERVERS
            used = {tag for _, op in _operations(doc) for tag in op.get("tags", ())}
            ordered = [t for t in tags if t in used] + sorted(used - set(tags))
            doc["tags"] = [{"name": t, "description": tags.get(t, "")} for t in ordered]
            _name_split_schemas(doc)
            _prune_unreferenced(doc)
            shaped.update(doc)
        return shaped

    app.openapi = openapi  # type: ignore[method-assign]


def _operations(doc: Mapping[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    for path, operations in doc.get("paths", {}).items():
        for method, operation in operations.items():
            yield f"{method.upper()} {path}", operation


def _name_split_schemas(doc: dict[str, Any]) -> None:
    """`Item-Input` and `Item-Output` (a model whose request and response shapes differ, e.g. a
    Decimal read from a number or a string, written as a string) both carry the title `Item`:
    generators then make one class of the two and drop the other. Name them ItemInput and
    ItemOutput, in key and title."""
    schemas = doc.get("components", {}).get("schemas", {})
    renamed = {
        old: old.replace("-Input", "Input").replace("-Output", "Output")
        for old in schemas
        if old.endswith(("-Input", "-Output"))
    }
    for old, new in renamed.items():
        schemas[new] = {**schemas.pop(old), "title": new}
    refs = {f"#/components/schemas/{o}": f"#/components/schemas/{n}" for o, n in renamed.items()}
    for node in _nodes(doc):
        if node.get("$ref") in refs:
            node["$ref"] = refs[node["$ref"]]


def _prune_unreferenced(doc: dict[str, Any]) -> None:
    """Drop the schemas no operation reaches (FastAPI's HTTPValidationError, once every 422 is
    a problem+json document)."""
    schemas = doc.get("components", {}).get("schemas", {})
    reached: set[str] = set()
    todo = list(_schema_refs(doc["paths"]))
    while todo:
        name = todo.pop()
        if name not in reached and name in schemas:
            reached.add(name)
            todo.extend(_schema_refs(schemas[name]))
    for name in set(schemas) - reached:
        del schemas[name]


def _schema_refs(tree: Any) -> Iterator[str]:
    """The schema names a tree refers to (by `$ref`, or in a discriminator's mapping)."""
    prefix = "#/components/schemas/"
    for node in _nodes(tree):
        for value in node.values():
            if isinstance(value, str) and value.startswith(prefix):
                yield value.removeprefix(prefix)


def _nodes(node: Any) -> Iterator[dict[str, Any]]:
    """Every object in a JSON tree."""
    if isinstance(node, dict):
        yield node
        for value in node.values():
            yield from _nodes(value)
    elif isinstance(node, list):
        for value in node:
            yield from _nodes(value)
