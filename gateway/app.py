"""The gateway's bootstrap: the roles SW_GATEWAY_ROLES names (api, saga, webhooks, dashboard),
each from its folder, over the shared core; the tables of every role (docs/architecture.md)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.routing import APIRoute
from sqlalchemy import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from gateway.api import admin, contracts, declarations, filings, sandbox_controls
from gateway.api.accept import AcceptLane, Lane
from gateway.ceb import routes as ceb_routes
from gateway.ceb import store as ceb_store
from gateway.ceb.follow import ReceiptFollower
from gateway.core.config import GatewayConfig
from gateway.core.errors import install_error_handler
from gateway.core.idempotency import install_idempotency
from gateway.core.keys import Keys
from gateway.core.store import (
    CORE_TABLES,
    add_enterprise,
    all_enterprises,
    hash_key,
    purge_references,
)
from gateway.dashboard.routes import install_dashboard
from gateway.dashboard.stream import StatusHub
from gateway.saga import TERMINAL
from gateway.saga.handlers import HANDLERS
from gateway.saga.observe import SagaMetrics
from gateway.saga.watcher import DeadlineWatcher
from gateway.webhooks import routes as webhook_routes
from gateway.webhooks import store as webhook_store
from gateway.webhooks.recorder import Webhooks
from gateway.webhooks.sender import WebhookConfig
from gateway.webhooks.store import WEBHOOK_TABLES
from schemas.topics import AGENCIES, events
from services.common import tracing
from services.common.bodies import BodyGuard
from services.common.bus import make_reader
from services.common.changes import is_conflict
from services.common.contract import operation_id, shape_openapi
from services.common.problems import install_problem_handlers
from services.common.runtime import Runtime
from services.common.settings import Settings
from services.common.tracing import TracingMiddleware
from services.common.web import ops_router

DEMO_ENTERPRISE = "ent_demo"
# Every table of the gateway: the shared core's, the webhooks', the CEB door's.
GATEWAY_TABLES = [*CORE_TABLES, *WEBHOOK_TABLES, *ceb_store.CEB_TABLES]


def purge_declarations(conn: Connection, declaration_ids: Sequence[str]) -> None:
    """Remove the gateway's own rows of declarations past their retention (retention's hook)."""
    purge_references(conn, declaration_ids)
    webhook_store.purge_declarations(conn, declaration_ids)
    ceb_store.purge_declarations(conn, declaration_ids)


# The global tags of /openapi.json, in the order the docs show them.
TAGS = {
    "declarations": "Submit declarations, read them and their event timelines, file payments "
    "and returns.",
    "ceb": "The CEB door: real CEB XML messages (CEB311 … CEB701) in, CEB receipts out, and "
    "each enterprise's receipt mailbox (docs/ceb.md).",
    "webhooks": "Endpoints that receive every status change of your declarations, signed, and "
    "the log of each delivery.",
    "sandbox": "The forced outcomes the sandbox offers.",
    "test helpers": "Push a pending step to an outcome, move the sandbox clock (sandbox only).",
    "dashboard": "What the trainer's dashboard reads: its settings, the saga table, the live "
    "stream of status changes, paced declarations.",
    "admin": "Operators (admin token): enterprises, declarations of every enterprise, dead "
    "letters.",
    "contracts": "The AsyncAPI document of every topic and message.",
    "operations": "Liveness, readiness and Prometheus metrics.",
}


def create_app(settings: Settings, *, engine: AsyncEngine | None = None) -> FastAPI:
    """The gateway process."""
    config = GatewayConfig(
        step_deadline_s=settings.step_deadline_s,
        step_max_attempts=settings.step_max_attempts,
        demo_stage_s=settings.demo_stage_s,
    )
    roles = settings.roles()  # SW_GATEWAY_ROLES: each role can run and scale alone
    runtime = Runtime(
        service="gateway",
        consume="saga" in roles,
        settings=settings,
        handlers=HANDLERS,
        topics=[events(a) for a in AGENCIES],
        engine=engine,
        reference=config,
        replay_replies=False,
        extra_tables=GATEWAY_TABLES,
        final_statuses=TERMINAL,
        purge_rows=purge_declarations,
    )
    saga_metrics = SagaMetrics(runtime)
    runtime.handlers = saga_metrics.counted(HANDLERS)
    watcher = DeadlineWatcher(runtime, config)
    hub = StatusHub(
        settings.kafka_bootstrap,
        consumer_factory=lambda: make_reader(
            settings, auto_offset_reset="latest", fetch_max_wait_ms=50
        ),
    )
    runtime.committed.append(hub.committed)  # the dashboard sees what this process commits
    webhooks = Webhooks(
        runtime,
        WebhookConfig(
            timeout_s=settings.webhook_timeout_s,
            max_attempts=settings.webhook_max_attempts,
            backoff_s=settings.webhook_backoff_s,
            backoff_max_s=settings.webhook_backoff_max_s,
        ),
    )
    webhooks.recorder.listeners.append(saga_metrics.statuses)
    receipts = ReceiptFollower(runtime, max_attempts=settings.webhook_max_attempts)
    keys = Keys(runtime, settings.admin_token)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        await runtime.start()

        def seed_demo(conn: Connection) -> dict[str, str]:
            known = all_enterprises(conn)
            if hash_key(settings.demo_api_key) not in known:
                add_enterprise(
                    conn,
                    enterprise_id=DEMO_ENTERPRISE,
                    name="Demo Trading Co.",
                    api_key=settings.demo_api_key,
                )
                known[hash_key(settings.demo_api_key)] = DEMO_ENTERPRISE
            return known

        try:
            keys.known.update(await runtime.db.write(seed_demo))
        except Exception as exc:
            if not is_conflict(exc):
                raise
            # Another replica starting at the same moment seeded the demo key first: read it.
            keys.known.update(await runtime.db.write(seed_demo))
        if "saga" in roles:  # the saga's background work: deadlines, CEB receipts
            watcher.start()
            await receipts.start()
        if "dashboard" in roles:
            hub.start()
        if "webhooks" in roles:
            await webhooks.start()
        try:
            yield
        finally:
            await receipts.stop()
            await webhooks.stop()
            await hub.stop()
            await watcher.stop()
            await runtime.stop()

    app = FastAPI(
        title="Single window simulator: gateway",
        description="Declare once: customs, inspection & quarantine, forex settlement and tax refund act "
        "on the same declaration, joined by Kafka events.",
        version="1.0.0",
        lifespan=lifespan,
        generate_unique_id_function=operation_id,
    )
    # What the module-level routers' dependencies read (gateway/core/deps.py).
    app.state.runtime = runtime
    app.state.config = config
    app.state.keys = keys
    app.state.webhooks = webhooks
    app.state.hub = hub
    install_problem_handlers(app)
    install_error_handler(app)  # the gateway's domain errors (gateway/core/errors.py)
    app.include_router(ops_router(runtime))
    if "api" in roles:
        _install_api(app, runtime, config, keys, settings)
    if "dashboard" in roles:
        install_dashboard(app)
    shape_openapi(app, TAGS)  # last: it finishes what the other hooks made of the document
    return app


def _install_api(
    app: FastAPI, runtime: Runtime, config: GatewayConfig, keys: Keys, settings: Settings
) -> None:
    """The public REST API (role `api`): declarations, filings, the CEB door, webhook endpoints,
    admin; the sandbox controls when SW_TEST_HELPERS is on."""
    submit = next(
        r
        for r in declarations.router.routes
        if isinstance(r, APIRoute) and r.path == "/v1/declarations" and r.methods == {"POST"}
    )
    lane = Lane(
        submit,
        keys.enterprise,
        lambda body, enterprise_id, held: declarations.accept(
            runtime, config, body, enterprise_id, held
        ),
    )
    app.add_middleware(AcceptLane, lane=lane)  # innermost: inside the idempotency middleware
    install_idempotency(app, runtime, keys)  # after BodyGuard
    if tracing.enabled():  # set up by serve.py before the app is built
        app.add_middleware(TracingMiddleware)
    app.add_middleware(BodyGuard, max_bytes=settings.max_body_bytes, raw_prefixes=("/v1/ceb/",))
    for router in (declarations.router, admin.router, contracts.router, filings.router):
        app.include_router(router)
    app.include_router(ceb_routes.router)
    if settings.test_helpers:
        app.include_router(sandbox_controls.router)
    app.include_router(webhook_routes.router)
