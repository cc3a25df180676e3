"""The webhook routes: endpoints per enterprise, the delivery log, manual redelivery."""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response
from sqlalchemy import Connection

from gateway.core.deps import Enterprise, RuntimeDep
from gateway.core.errors import NotFound, TooManyEndpoints
from gateway.core.idempotency import Answer
from gateway.webhooks import store
from gateway.webhooks.recorder import Webhooks
from schemas.api import (
    WebhookAttemptView,
    WebhookDeliveryList,
    WebhookDeliveryView,
    WebhookEndpointCreate,
    WebhookEndpointCreated,
    WebhookEndpointList,
    WebhookEndpointView,
)
from services.common.runtime import Runtime

TAG = "webhooks"
MAX_ENDPOINTS = 16  # each declaration fans out to every endpoint of its enterprise


def _at(ts: float | None) -> datetime | None:
    return None if ts is None else datetime.fromtimestamp(ts, UTC)


def _endpoint_view(row: Mapping[str, Any]) -> dict[str, Any]:
    endpoint_id = row["id"]
    return {
        "id": endpoint_id,
        "url": row["url"],
        "enabled_events": json.loads(row["enabled_events"]),
        "description": row["description"],
        "hardening": bool(row["hardening"]),
        "created_at": _at(row["created_at"]),
        "links": {
            "self": f"/v1/webhook_endpoints/{endpoint_id}",
            "deliveries": f"/v1/webhook_endpoints/{endpoint_id}/deliveries",
        },
    }


def _delivery_view(row: Any, attempts: list[Any]) -> WebhookDeliveryView:
    return WebhookDeliveryView(
        id=row.id,
        event_id=row.event_id,
        event_type=row.type,
        endpoint_id=row.endpoint_id,
        declaration_id=row.declaration_id,
        duplicate=bool(row.duplicate),
        status=row.status,
        attempts=row.attempts,
        max_attempts=row.max_attempts,
        next_attempt_at=_at(row.next_attempt_at),
        last_status_code=row.last_status_code,
        last_error=row.last_error,
        created_at=_at(row.created_at),
        updated_at=_at(row.updated_at),
        log=[
            WebhookAttemptView(
                number=a.number,
                at=_at(a.at),
                status_code=a.status_code,
                error=a.error,
                duration_ms=a.duration_ms,
                response_excerpt=a.response_excerpt,
            )
            for a in attempts
        ],
    )


def _not_found(what: str, ident: str) -> NotFound:
    return NotFound(f"no {what} {ident}")


def webhooks_of(request: Request) -> Webhooks:
    """The webhooks role of this process (its store, config and sender)."""
    webhooks: Webhooks = request.app.state.webhooks
    return webhooks


WebhooksDep = Annotated[Webhooks, Depends(webhooks_of)]
Limit = Annotated[int, Query(ge=1, le=200)]
router = APIRouter(tags=[TAG])


@router.post(
    "/v1/webhook_endpoints",
    status_code=201,
    response_model=WebhookEndpointCreated,
    responses={409: {"description": f"the enterprise has {MAX_ENDPOINTS} endpoints already"}},
)
async def create_webhook_endpoint(
    body: WebhookEndpointCreate, enterprise_id: Enterprise, runtime: RuntimeDep, request: Request
) -> Response:
    """Register an endpoint; its signing secret is in this answer and never again."""
    answer = Answer.to(request)

    def unit(conn: Connection) -> Response:
        if len(store.list_endpoints(conn, enterprise_id=enterprise_id)) >= MAX_ENDPOINTS:
            raise TooManyEndpoints(
                f"an enterprise may register {MAX_ENDPOINTS} endpoints; delete one first",
            )
        row = store.add_endpoint(
            conn,
            id="we_" + secrets.token_hex(8),
            enterprise_id=enterprise_id,
            url=body.url,
            secret="whsec_" + secrets.token_urlsafe(32),
            enabled_events=body.enabled_events,
            hardening=body.hardening,
            description=body.description,
        )
        return answer(conn, WebhookEndpointCreated(**_endpoint_view(row), secret=row["secret"]))

    return await answer.kept(runtime.db.write(unit))


@router.get("/v1/webhook_endpoints", response_model=WebhookEndpointList)
async def list_webhook_endpoints(
    enterprise_id: Enterprise, runtime: RuntimeDep
) -> WebhookEndpointList:
    """The enterprise's endpoints, oldest first (without their secrets)."""
    rows = await runtime.db.read(
        lambda conn: store.list_endpoints(conn, enterprise_id=enterprise_id)
    )
    return WebhookEndpointList(
        data=[WebhookEndpointView(**_endpoint_view(r._mapping)) for r in rows]
    )


@router.get("/v1/webhook_endpoints/{endpoint_id}", response_model=WebhookEndpointView)
async def get_webhook_endpoint(
    endpoint_id: str, enterprise_id: Enterprise, runtime: RuntimeDep
) -> WebhookEndpointView:
    """One endpoint (without its secret)."""
    row = await runtime.db.read(
        lambda conn: store.get_endpoint(conn, enterprise_id=enterprise_id, endpoint_id=endpoint_id)
    )
    if row is None:
        raise _not_found("webhook endpoint", endpoint_id)
    return WebhookEndpointView(**_endpoint_view(row._mapping))


@router.delete("/v1/webhook_endpoints/{endpoint_id}", status_code=204)
async def delete_webhook_endpoint(
    endpoint_id: str, enterprise_id: Enterprise, runtime: RuntimeDep
) -> Response:
    """Remove an endpoint; its pending deliveries are dropped with their log."""
    gone = await runtime.db.write(
        lambda conn: store.delete_endpoint(
            conn, enterprise_id=enterprise_id, endpoint_id=endpoint_id
        )
    )
    if not gone:
        raise _not_found("webhook endpoint", endpoint_id)
    return Response(status_code=204)


def _found(conn: Connection, enterprise_id: str, limit: int, **filters: Any) -> WebhookDeliveryList:
    found = store.find_deliveries(conn, enterprise_id=enterprise_id, limit=limit + 1, **filters)
    page = [_delivery_view(row, log) for row, log in found[:limit]]
    return WebhookDeliveryList(data=page, next_cursor=page[-1].id if len(found) > limit else None)


async def _page(
    runtime: Runtime, enterprise_id: str, limit: int, **filters: Any
) -> WebhookDeliveryList:
    return await runtime.db.read(lambda conn: _found(conn, enterprise_id, limit, **filters))


@router.get("/v1/webhook_deliveries", response_model=WebhookDeliveryList)
async def list_webhook_deliveries(
    enterprise_id: Enterprise,
    runtime: RuntimeDep,
    endpoint_id: str | None = None,
    declaration_id: str | None = None,
    event_id: str | None = None,
    status: str | None = None,
    limit: Limit = 50,
    cursor: str | None = None,
) -> WebhookDeliveryList:
    """The delivery log: deliveries oldest first, each with its attempts, filtered at will."""
    return await _page(
        runtime,
        enterprise_id,
        limit,
        endpoint_id=endpoint_id,
        declaration_id=declaration_id,
        event_id=event_id,
        status=status,
        after=cursor,
    )


@router.get("/v1/webhook_endpoints/{endpoint_id}/deliveries", response_model=WebhookDeliveryList)
async def list_webhook_endpoint_deliveries(
    endpoint_id: str,
    enterprise_id: Enterprise,
    runtime: RuntimeDep,
    status: str | None = None,
    limit: Limit = 50,
    cursor: str | None = None,
) -> WebhookDeliveryList:
    """One endpoint's delivery log, oldest first."""
    await get_webhook_endpoint(endpoint_id, enterprise_id, runtime)
    return await _page(
        runtime, enterprise_id, limit, endpoint_id=endpoint_id, status=status, after=cursor
    )


def _one(conn: Connection, enterprise_id: str, delivery_id: str) -> WebhookDeliveryView:
    page = _found(conn, enterprise_id, 1, delivery_id=delivery_id)
    if not page.data:
        raise _not_found("webhook delivery", delivery_id)
    return page.data[0]


@router.get("/v1/webhook_deliveries/{delivery_id}", response_model=WebhookDeliveryView)
async def get_webhook_delivery(
    delivery_id: str, enterprise_id: Enterprise, runtime: RuntimeDep
) -> WebhookDeliveryView:
    """One delivery with every attempt: when, the answer's status, the error, the next try."""
    return await runtime.db.read(lambda conn: _one(conn, enterprise_id, delivery_id))


@router.post(
    "/v1/webhook_deliveries/{delivery_id}/redeliver",
    status_code=202,
    response_model=WebhookDeliveryView,
)
async def redeliver_webhook_delivery(
    delivery_id: str,
    enterprise_id: Enterprise,
    runtime: RuntimeDep,
    request: Request,
    webhooks: WebhooksDep,
) -> Response:
    """Send a delivery again now (same event id and body), with a fresh set of attempts."""
    max_attempts = webhooks.config.max_attempts
    answer = Answer.to(request)

    def unit(conn: Connection) -> Response:
        queued = store.redeliver(
            conn,
            enterprise_id=enterprise_id,
            delivery_id=delivery_id,
            now=time.time(),
            max_attempts=max_attempts,
        )
        if not queued:
            raise _not_found("webhook delivery", delivery_id)
        return answer(conn, _one(conn, enterprise_id, delivery_id))

    response = await answer.kept(runtime.db.write(unit))
    webhooks.wake()
    return response
