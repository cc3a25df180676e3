"""Request bodies checked before any route sees them: size, media type, UTF-8, JSON shape.

An ASGI middleware, so an oversized body is refused while it streams in (nothing of it is
kept beyond the limit), and every refusal is a problem+json naming the rule it broke.
"""

from __future__ import annotations

import json
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from services.common.problems import problem_response

MAX_DEPTH = 32  # a declaration nests 4 levels; anything near this is not a declaration
WITH_BODY = frozenset({"POST", "PUT", "PATCH"})
PARSED = "sw.parsed_json"  # scope key: a non-empty body's JSON, parsed as it was checked here
NO_JSON = object()  # what `parsed_json` says of a request without a parsed body


class BodyRefused(Exception):
    """A body that no route should see: its HTTP status, rule and explanation."""

    def __init__(self, status: int, rule: str, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.rule = rule
        self.detail = detail


def json_depth(value: Any) -> int:
    """How deeply arrays and objects nest in a parsed JSON value (a scalar is 0)."""
    depth = 0
    level: list[Any] = [value]
    while level:
        containers = [v for v in level if isinstance(v, dict | list)]
        if not containers:
            return depth
        depth += 1
        level = [x for c in containers for x in (c.values() if isinstance(c, dict) else c)]
    return depth


def is_json_media_type(content_type: str) -> bool:
    """`application/json` or any `+json` type, with or without parameters."""
    media = content_type.split(";", 1)[0].strip().lower()
    return media == "application/json" or (
        media.startswith("application/") and media.endswith("+json")
    )


def check_json_body(body: bytes, content_type: str | None) -> Any:
    """Raise BodyRefused unless `body` is empty or UTF-8 JSON of a sane depth, sent as JSON;
    the parsed JSON (None for an empty body)."""
    if not body:
        return None
    if content_type is None or not is_json_media_type(content_type):
        raise BodyRefused(
            415,
            "media_type",
            f"Content-Type must be application/json, not {content_type or 'missing'}",
        )
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BodyRefused(
            400, "utf8", f"the body is not valid UTF-8 (byte {exc.start}: {exc.reason})"
        ) from exc
    try:
        value = json.loads(text)
    except RecursionError as exc:
        raise BodyRefused(400, "json_depth", f"JSON nested deeper than {MAX_DEPTH} levels") from exc
    except json.JSONDecodeError as exc:
        raise BodyRefused(
            400, "json", f"not JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}"
        ) from exc
    except ValueError as exc:  # e.g. an integer of more digits than Python converts
        raise BodyRefused(400, "json_number", f"a JSON number is out of range: {exc}") from exc
    if json_depth(value) > MAX_DEPTH:
        raise BodyRefused(400, "json_depth", f"JSON nested deeper than {MAX_DEPTH} levels")
    return value


def parsed_json(scope: Scope) -> Any:
    """The parsed JSON of the body BodyGuard let through (`NO_JSON` if none or empty), so that
    a route may take it without parsing the body again."""
    return scope.get(PARSED, NO_JSON)


def scope_headers(scope: Scope, *names: bytes) -> dict[bytes, str]:
    """The values of the named (lower-case) headers of an ASGI scope, the last of each
    counting, without decoding the others."""
    wanted = frozenset(names)
    found: dict[bytes, str] = {}
    for name, value in scope["headers"]:
        name = name.lower()
        if name in wanted:
            found[name] = value.decode("latin-1")
    return found


class BodyGuard:
    """Refuse bodies over `max_bytes` (413), not JSON (415), not UTF-8 or too deep (400).

    A JSON body let through is also left, parsed, in the scope (`parsed_json`). Paths under
    `raw_prefixes` (the CEB door's XML) are held to the size limit only: their route reads
    the body its own way."""

    def __init__(self, app: ASGIApp, *, max_bytes: int, raw_prefixes: tuple[str, ...] = ()) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.raw_prefixes = raw_prefixes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in WITH_BODY:
            await self.app(scope, receive, send)
            return
        headers = scope_headers(scope, b"content-length", b"content-type")
        content_type = headers.get(b"content-type")
        try:
            declared = int(headers.get(b"content-length") or 0)
        except ValueError:
            declared = 0
        try:
            if declared > self.max_bytes:
                raise self._too_large()
            body = await self._read(receive)
            raw = bool(self.raw_prefixes) and str(scope["path"]).startswith(self.raw_prefixes)
            parsed = None if raw else check_json_body(body, content_type)
        except BodyRefused as refused:
            response = problem_response(
                refused.status,
                "bad-body",
                "Request body refused",
                refused.detail,
                errors=[{"field": "<body>", "rule": refused.rule, "message": refused.detail}],
            )
            await response(scope, receive, send)
            return

        if body and not raw:
            scope[PARSED] = parsed
        delivered = False

        async def replay() -> Message:
            nonlocal delivered
            if delivered:
                return await receive()  # after the body: wait for the disconnect as usual
            delivered = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app(scope, replay, send)

    def _too_large(self) -> BodyRefused:
        return BodyRefused(
            413,
            "max_body_bytes",
            f"the body is larger than {self.max_bytes} bytes (SW_MAX_BODY_BYTES)",
        )

    async def _read(self, receive: Receive) -> bytes:
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                break
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                raise self._too_large()
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        return b"".join(chunks)
