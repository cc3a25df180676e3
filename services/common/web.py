"""App factory pieces every service shares: lifespan, health, readiness, metrics, records."""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from fastapi import APIRouter, Depends, FastAPI, Query, Response
from fastapi.responses import PlainTextResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import select

from schemas.envelope import whole
from services.common import tracing
from services.common.admin import admin_guard
from services.common.bodies import BodyGuard
from services.common.contract import operation_id, shape_openapi
from services.common.db import Journal, Record
from services.common.problems import Problem, install_problem_handlers
from services.common.runtime import Runtime
from services.common.tracing import TracingMiddleware

# The global tags of an agency's /openapi.json (each lists those its routes use).
AGENCY_TAGS = {
    "records": "What the agency holds about each declaration, with every message it handled "
    "(admin token).",
    "reference": "The reference data the agency decides with.",
    "rates": "Forex's daily exchange-rate tables, and the administrator's edits.",
    "operations": "Liveness, readiness and Prometheus metrics.",
}


def make_app(
    runtime: Runtime,
    *,
    title: str,
    description: str,
    extra: Callable[[FastAPI], None] | None = None,
) -> FastAPI:
    """A FastAPI app whose lifespan runs `runtime`, with the shared routes installed."""

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        await runtime.start()
        try:
            yield
        finally:
            await runtime.stop()

    app = FastAPI(
        title=title,
        description=description,
        version="1.0.0",
        lifespan=lifespan,
        generate_unique_id_function=operation_id,
    )
    app.state.runtime = runtime
    if tracing.enabled():  # set up by serve.py before the app is built
        app.add_middleware(TracingMiddleware)
    app.add_middleware(BodyGuard, max_bytes=runtime.settings.max_body_bytes)
    install_problem_handlers(app)
    app.include_router(ops_router(runtime))
    if extra:
        extra(app)
    shape_openapi(app, AGENCY_TAGS)
    return app


def ops_router(runtime: Runtime) -> APIRouter:
    """`/healthz`, `/readyz` and `/metrics`."""
    router = APIRouter(tags=["operations"])

    @router.get("/healthz")
    async def check_liveness() -> dict[str, Any]:
        """Liveness: the process answers."""
        return {"status": "ok", "service": runtime.service, "pid": os.getpid()}

    @router.get("/readyz")
    async def check_readiness(response: Response) -> dict[str, Any]:
        """Readiness: the database answers and the consumer has joined its group."""
        checks = await runtime.readiness()
        ready = all(checks.values())
        response.status_code = 200 if ready else 503
        return {
            "status": "ready" if ready else "not ready",
            "service": runtime.service,
            "checks": checks,
        }

    @router.get("/metrics", response_class=PlainTextResponse)
    async def get_metrics() -> Response:
        """Prometheus metrics."""
        await runtime.before_scrape()
        return Response(generate_latest(runtime.metrics.registry), media_type=CONTENT_TYPE_LATEST)

    return router


def records_router(runtime: Runtime) -> APIRouter:
    """Read-only queries of what an agency holds about declarations (every enterprise's: the
    admin token is required)."""
    settings = runtime.settings
    router = APIRouter(
        prefix="/v1/records",
        tags=["records"],
        dependencies=[Depends(admin_guard(settings.admin_token, enabled=settings.admin_enabled))],
    )
    table = Record.__table__  # type: ignore[attr-defined]
    journal = Journal.__table__  # type: ignore[attr-defined]

    @router.get("")
    async def list_records(
        status: str | None = None, limit: int = Query(default=50, ge=1, le=500)
    ) -> dict[str, Any]:
        """Records this agency holds, newest first, optionally of one status."""
        stmt = select(table.c.key, table.c.status, table.c.updated_at).order_by(
            table.c.updated_at.desc()
        )
        if status:
            stmt = stmt.where(table.c.status == status)
        async with runtime.engine.connect() as conn:
            rows = (await conn.execute(stmt.limit(limit))).all()
        return {
            "data": [
                {"declaration_id": r.key, "status": r.status, "updated_at": r.updated_at}
                for r in rows
            ]
        }

    @router.get("/{declaration_id}")
    async def get_record(declaration_id: str) -> dict[str, Any]:
        """What this agency holds about one declaration, with every message it handled or sent."""
        async with runtime.engine.connect() as conn:
            row = (await conn.execute(select(table).where(table.c.key == declaration_id))).first()
            messages = (
                await conn.execute(
                    select(journal.c.direction, journal.c.envelope)
                    .where(journal.c.declaration_id == declaration_id)
                    .order_by(journal.c.seq)
                )
            ).all()
        if row is None and not messages:
            raise Problem(
                404,
                "not-found",
                "Not found",
                f"{runtime.service} holds no record of {declaration_id}",
            )
        return {
            "declaration_id": declaration_id,
            "status": row.status if row else None,
            "record": json.loads(row.data) if row else None,
            "messages": [{"direction": m.direction, **whole(m.envelope)} for m in messages],
        }

    return router
