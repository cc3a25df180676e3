"""Errors as application/problem+json (RFC 9457), mapped in one place."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

PROBLEM_BASE = "https://singlewindow.dev/problems/"
MEDIA_TYPE = "application/problem+json"


class Problem(Exception):
    """A domain error with its HTTP status and stable type."""

    def __init__(self, status: int, slug: str, title: str, detail: str, **extra: Any) -> None:
        super().__init__(detail)
        self.status = status
        self.slug = slug
        self.title = title
        self.detail = detail
        self.extra = extra


def problem_response(status: int, slug: str, title: str, detail: str, **extra: Any) -> JSONResponse:
    """A problem+json response."""
    body = {
        "type": PROBLEM_BASE + slug,
        "title": title,
        "status": status,
        "detail": detail,
        **extra,
    }
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return JSONResponse(body, status_code=status, media_type=MEDIA_TYPE, headers=headers)


def field_path(loc: tuple[Any, ...]) -> str:
    """`('body', 'items', 2, 'hs_code')` → `items[2].hs_code`."""
    parts = [p for p in loc if p not in ("body", "query", "path", "header")]
    out = ""
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out or "<body>"


def without_echoes(errors: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Drop "too short after validation" on a list whose own elements failed: pydantic counts
    the failed elements as missing, which blames the list for its items' errors."""
    failed = [tuple(e["loc"]) for e in errors]
    return [
        e
        for e in errors
        if not (
            e["type"] == "too_short"
            and any(
                len(f) > len(e["loc"]) and f[: len(e["loc"])] == tuple(e["loc"]) for f in failed
            )
        )
    ]


PROBLEM_SCHEMA: dict[str, Any] = {
    "title": "Problem",
    "description": "An error, as RFC 9457 application/problem+json",
    "type": "object",
    "required": ["type", "title", "status", "detail"],
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "errors": {
            "type": "array",
            "description": "each failing field with its rule",
            "items": {
                "type": "object",
                "required": ["field", "rule", "message"],
                "properties": {
                    "field": {"type": "string"},
                    "rule": {"type": "string"},
                    "message": {"type": "string"},
                },
            },
        },
    },
    "additionalProperties": True,
}


def document_problems(app: FastAPI) -> None:
    """Make the OpenAPI document say what the handlers below do: every error is problem+json."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        doc = generate()
        doc.setdefault("components", {}).setdefault("schemas", {})["Problem"] = PROBLEM_SCHEMA
        problem = {MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}}
        for operations in doc.get("paths", {}).values():
            for operation in operations.values():
                responses = operation.setdefault("responses", {})
                for code, response in responses.items():
                    # A route's own error media stays (the CEB door's CEB900 is XML).
                    own = {
                        media: body
                        for media, body in response.get("content", {}).items()
                        if media != "application/json"
                    }
                    if code.startswith(("4", "5")):
                        response["content"] = own or problem
                responses.setdefault(
                    "default", {"description": "An error (problem+json)", "content": problem}
                )
        app.openapi_schema = doc
        return doc

    app.openapi = openapi  # type: ignore[method-assign]


def problem_of(exc: Problem) -> JSONResponse:
    """The answer to a Problem raised."""
    return problem_response(exc.status, exc.slug, exc.title, exc.detail, **exc.extra)


def validation_problem(exc: RequestValidationError) -> JSONResponse:
    """The answer to a request that failed validation: a 422 naming each field and rule."""
    errors = [
        {
            "field": field_path(tuple(e["loc"])),
            "rule": e["type"],
            "message": str(e["msg"]).removeprefix("Value error, "),
        }
        for e in without_echoes(list(exc.errors()))
    ]
    summary = "; ".join(f"{e['field']}: {e['message']}" for e in errors[:3])
    return problem_response(422, "validation", "Invalid request", summary, errors=errors)


def install_problem_handlers(app: FastAPI) -> None:
    """Map validation errors, HTTP errors, domain problems and bugs to problem+json."""
    document_problems(app)

    @app.exception_handler(RequestValidationError)
    async def _validation(_req: Request, exc: RequestValidationError) -> JSONResponse:
        return validation_problem(exc)

    @app.exception_handler(Problem)
    async def _problem(_req: Request, exc: Problem) -> JSONResponse:
        return problem_of(exc)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_req: Request, exc: StarletteHTTPException) -> JSONResponse:
        slug = {404: "not-found", 405: "method-not-allowed", 401: "unauthorized"}.get(
            exc.status_code, "http"
        )
        return problem_response(exc.status_code, slug, str(exc.detail), str(exc.detail))

    @app.exception_handler(Exception)
    async def _bug(_req: Request, exc: Exception) -> JSONResponse:
        return problem_response(500, "internal", "Internal error", f"{type(exc).__name__}")
