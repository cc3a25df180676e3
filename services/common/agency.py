"""The app factory every agency shares: its handlers, reference data and topics."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncEngine

from schemas.topics import commands
from services.common.handling import Handler
from services.common.runtime import Runtime
from services.common.settings import Settings
from services.common.web import make_app, records_router


def create_agency_app(
    agency: str,
    settings: Settings,
    handlers: Mapping[str, Handler],
    reference: Any,
    description: str | None,
    *,
    engine: AsyncEngine | None = None,
) -> FastAPI:
    """An agency process: consumes its command topic, answers on its event topic; its OpenAPI
    document is described by `description` (the app module's docstring)."""
    runtime = Runtime(
        service=agency,
        settings=settings,
        handlers=handlers,
        topics=[commands(agency)],
        engine=engine,
        reference=reference,
        replay_replies=True,
    )

    def routes(app: FastAPI) -> None:
        app.include_router(records_router(runtime))

        @app.get("/v1/reference", tags=["reference"])
        async def get_reference_data() -> dict[str, Any]:
            """The reference data this agency decides with."""
            return {"agency": agency, "reference": _jsonable(reference)}

    return make_app(
        runtime, title=f"Single window: {agency}", description=description or "", extra=routes
    )


def _jsonable(value: Any) -> Any:
    if hasattr(value, "__dataclass_fields__"):
        return {k: _jsonable(getattr(value, k)) for k in value.__dataclass_fields__}
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | frozenset | set):
        return (
            [_jsonable(v) for v in sorted(value, key=str)]
            if isinstance(value, frozenset | set)
            else [_jsonable(v) for v in value]
        )
    if isinstance(value, int | float | str | bool) or value is None:
        return value
    return str(value)
