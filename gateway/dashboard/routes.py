"""The trainer's dashboard: the page, its live stream, the saga diagram's data, pace control."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Request, Response
from fastapi.responses import FileResponse, StreamingResponse
from fastapi.staticfiles import StaticFiles
from sqlalchemy import Connection

from gateway import saga as sagas
from gateway.core.deps import ConfigDep, Enterprise, RuntimeDep, SettingsDep
from gateway.core.errors import Forbidden
from gateway.dashboard.examples import EXAMPLES
from gateway.dashboard.stream import StatusHub
from gateway.saga import Saga, pace
from gateway.saga.unit import SagaUnit, act_on_saga
from schemas.api import EXPORT_ONLY, IMPORT_ONLY, Pace
from schemas.base import Contract
from schemas.trade import Direction, Scenario, TradeMode
from services.common.changes import Changes
from services.common.runtime import Runtime

STATIC = Path(__file__).resolve().parent.parent / "static"
FLUSH_EVERY_S = 0.25  # the page gets at most four batches a second, however busy the gateway
BATCH_MAX = 100  # and at most this many declarations a batch: the board samples the rest
STATS_EVERY_S = 1.0
KEEPALIVE_S = 15.0


class RunSettings(Contract):
    """A trainer's run: the default pace of new declarations, and whether to restart the count."""

    pace: Pace | None = None
    reset: bool = False


class Advanced(Contract):
    """What an advance released."""

    id: str
    released: list[str]


class PaceView(Contract):
    """A declaration's pace and what it is waiting for."""

    id: str
    pace: Pace
    held: list[str]
    release_at: float | None


def _rows(table: tuple[sagas.Transition, ...]) -> list[dict[str, Any]]:
    return [
        {"state": t.state, "on": t.on, "to": t.to, "commands": list(t.commands), "when": t.when}
        for t in table
    ]


def saga_tables() -> dict[str, Any]:
    """The saga's transition tables, generated from gateway.saga, and which one each mode uses."""
    # A trade mode may have its own table (MODE_TABLES); the others use their direction's.
    mode_tables: dict[tuple[Direction, TradeMode], tuple[sagas.Transition, ...]] = getattr(
        sagas, "MODE_TABLES", {}
    )
    users: dict[int, list[str]] = {}
    table_of: dict[str, tuple[sagas.Transition, ...]] = {}
    for direction in Direction:
        for mode in TradeMode:
            if mode in (IMPORT_ONLY if direction is Direction.EXPORT else EXPORT_ONLY):
                continue
            table = mode_tables.get((direction, mode), sagas.TABLES[direction])
            table_of[f"{direction.value}/{mode.value}"] = table
            users.setdefault(id(table), []).append(mode.value)
    names: dict[int, str] = {}
    tables: dict[str, list[dict[str, Any]]] = {}
    for key, table in table_of.items():
        if id(table) not in names:
            side = key.split("/", 1)[0]
            names[id(table)] = f"{side} {' '.join(users[id(table)])}"
            tables[names[id(table)]] = _rows(table)
    return {
        "initial": "customs_review",
        "terminal": sorted(sagas.TERMINAL),
        "guards": sorted(sagas.GUARDS),
        "tables": tables,
        "table_of": {key: names[id(table)] for key, table in table_of.items()},
    }


def hub_of(request: Request) -> StatusHub:
    """The dashboard role's hub of status changes."""
    hub: StatusHub = request.app.state.hub
    return hub


HubDep = Annotated[StatusHub, Depends(hub_of)]
router = APIRouter()


@router.get("/", include_in_schema=False)
async def page() -> FileResponse:
    """The trainer's dashboard."""
    return FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-cache"})


@router.get("/v1/dashboard/config", tags=["dashboard"])
async def get_dashboard_config(settings: SettingsDep, config: ConfigDep) -> dict[str, Any]:
    """What the page needs before a key is typed: the demo key in sandbox mode, the choices."""
    return {
        "sandbox": settings.sandbox,
        "demo_api_key": settings.demo_api_key if settings.sandbox else None,
        "demo_stage_s": config.demo_stage_s,
        "paces": [p.value for p in Pace],
        "scenarios": [s.value for s in Scenario],
        "trade_modes": [m.value for m in TradeMode],
        "examples": EXAMPLES,
    }


@router.get("/v1/saga", tags=["dashboard"])
async def get_saga_table() -> dict[str, Any]:
    """The saga's transition table per direction (state × event → state + commands)."""
    return saga_tables()


@router.get("/v1/stream", tags=["dashboard"], response_class=StreamingResponse)
async def stream_status_changes(
    request: Request, enterprise_id: Enterprise, hub: HubDep
) -> StreamingResponse:
    """Server-sent events: `status` (a JSON array of declarations that moved, newest status
    of each, sampled under load) and `stats` (the run's class view, every second)."""
    sub = hub.subscribe(enterprise_id)

    async def events() -> AsyncIterator[str]:
        try:
            yield "retry: 2000\n\n"
            snap = {**hub.snapshot(enterprise_id), "dropped": 0}
            yield _sse("stats", snap)
            sent, last_write = _stats_key(snap), time.monotonic()
            next_stats = last_write + STATS_EVERY_S
            while not hub.closing.is_set() and not await request.is_disconnected():
                await sub.wait(STATS_EVERY_S)
                batch = sub.take(BATCH_MAX)
                if batch:
                    yield f"event: status\ndata: [{','.join(batch)}]\n\n"
                    last_write = time.monotonic()
                if time.monotonic() >= next_stats:
                    snap = {**hub.snapshot(enterprise_id), "dropped": sub.dropped}
                    if _stats_key(snap) != sent:  # the class view only when it changed
                        yield _sse("stats", snap)
                        sent, last_write = _stats_key(snap), time.monotonic()
                    elif time.monotonic() - last_write >= KEEPALIVE_S:
                        yield ": keep-alive\n\n"  # proxies close silent connections
                        last_write = time.monotonic()
                    next_stats = time.monotonic() + STATS_EVERY_S
                await asyncio.sleep(FLUSH_EVERY_S)  # coalescing window: a slow page
        finally:
            hub.unsubscribe(sub)

    return StreamingResponse(
        events(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


@router.get("/v1/dashboard/run", tags=["dashboard"])
async def get_run_settings(
    enterprise_id: Enterprise, config: ConfigDep, hub: HubDep
) -> dict[str, Any]:
    """The enterprise's run: its default pace and the class view."""
    return {
        "pace": config.run_pace.get(enterprise_id, Pace.INSTANT).value,
        "stats": hub.snapshot(enterprise_id, max_age_s=0),
    }


@router.put("/v1/dashboard/run", tags=["dashboard"])
async def set_run_settings(
    body: RunSettings,
    enterprise_id: Enterprise,
    settings: SettingsDep,
    config: ConfigDep,
    hub: HubDep,
) -> dict[str, Any]:
    """Set the run's default pace and/or restart the class view (sandbox only)."""
    if not settings.sandbox:
        raise Forbidden("pace control is a sandbox feature")
    if body.pace is not None:
        if body.pace is Pace.INSTANT:
            config.run_pace.pop(enterprise_id, None)
        else:
            config.run_pace[enterprise_id] = body.pace
    if body.reset:
        hub.reset_run(enterprise_id)
    return await get_run_settings(enterprise_id, config, hub)


async def _paced_saga(runtime: Runtime, declaration_id: str, enterprise_id: str) -> Saga:
    def load(conn: Connection) -> Saga:
        return SagaUnit.load(conn, Changes(), declaration_id, owner=enterprise_id).saga

    return await runtime.db.read(load)


def _pace_view(saga: Saga) -> PaceView:
    state = saga.paced
    return PaceView(
        id=saga.declaration_id,
        pace=state.pace if state else Pace.INSTANT,
        held=pace.held_types(saga),
        release_at=state.release_at if state else None,
    )


@router.get(
    "/v1/declarations/{declaration_id}/pace", response_model=PaceView, tags=["declarations"]
)
async def get_declaration_pace(
    declaration_id: str, enterprise_id: Enterprise, runtime: RuntimeDep
) -> PaceView:
    """A declaration's pace and the commands it holds back."""
    return _pace_view(await _paced_saga(runtime, declaration_id, enterprise_id))


@router.post(
    "/v1/declarations/{declaration_id}/advance",
    response_model=Advanced,
    tags=["declarations"],
)
async def advance_declaration(
    declaration_id: str,
    enterprise_id: Enterprise,
    request: Request,
    runtime: RuntimeDep,
    config: ConfigDep,
) -> Response:
    """Release a paced declaration's held commands now: the next stage starts."""

    def advance(one: SagaUnit) -> Advanced:
        released = pace.release(one.saga, now=time.time(), step_deadline_s=config.step_deadline_s)
        one.save(released.saga, resend=released.send)
        return Advanced(id=declaration_id, released=pace.held_types(one.saga))

    return await act_on_saga(runtime, request, declaration_id, owner=enterprise_id, act=advance)


def _stats_key(snap: dict[str, Any]) -> tuple[Any, ...]:
    return snap["started_at"], snap["events"], snap["dropped"]


def _sse(event: str, data: Any) -> str:
    return (
        f"event: {event}\ndata: {json.dumps(data, separators=(',', ':'), ensure_ascii=False)}\n\n"
    )


def install_dashboard(app: FastAPI) -> None:
    """Add the page, its static files and its routes to the gateway."""
    app.include_router(router)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
