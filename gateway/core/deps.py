"""The routes' dependencies, written once: the runtime, the gateway's settings, the caller.

Routers are module-level; what a route needs of the running gateway comes from the app's
state, set by `gateway/app.py`, through these `Annotated` types.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Header, Request

from gateway.core.config import GatewayConfig
from gateway.core.errors import Forbidden, Unauthorized
from gateway.core.keys import OPERATOR, Keys, bearer
from services.common.admin import require_admin
from services.common.runtime import Runtime
from services.common.settings import Settings


def runtime_of(request: Request) -> Runtime:
    """The gateway process's runtime (database, group commit, bus)."""
    runtime: Runtime = request.app.state.runtime
    return runtime


def config_of(request: Request) -> GatewayConfig:
    """The saga's timing and each run's pace."""
    config: GatewayConfig = request.app.state.config
    return config


def keys_of(request: Request) -> Keys:
    """The API keys this process knows."""
    keys: Keys = request.app.state.keys
    return keys


RuntimeDep = Annotated[Runtime, Depends(runtime_of)]
ConfigDep = Annotated[GatewayConfig, Depends(config_of)]
KeysDep = Annotated[Keys, Depends(keys_of)]


def settings_of(runtime: RuntimeDep) -> Settings:
    """The process's settings."""
    return runtime.settings


SettingsDep = Annotated[Settings, Depends(settings_of)]


async def enterprise(keys: KeysDep, authorization: Annotated[str | None, Header()] = None) -> str:
    """`Authorization: Bearer <API key>` → the caller's enterprise id (401 otherwise)."""
    return await keys.enterprise(authorization)


async def caller(
    keys: KeysDep, settings: SettingsDep, authorization: Annotated[str | None, Header()] = None
) -> str:
    """The admin token (OPERATOR: any declaration) or, in sandbox mode, an enterprise's API key."""
    if bearer(authorization) is None:
        raise Unauthorized(
            "send the admin token, or in sandbox mode your API key, as `Authorization: Bearer`"
        )
    who = await keys.caller(authorization)
    if who is None:
        raise Unauthorized("unknown API key or admin token")
    if who != OPERATOR and not settings.sandbox:
        raise Forbidden("outside sandbox mode only the admin token may use test helpers")
    return who


async def admin(
    settings: SettingsDep, authorization: Annotated[str | None, Header()] = None
) -> None:
    """404 when admin routes are switched off, 403 without the admin token."""
    require_admin(authorization, token=settings.admin_token, enabled=settings.admin_enabled)


Enterprise = Annotated[str, Depends(enterprise)]
Caller = Annotated[str, Depends(caller)]
Admin = Depends(admin)
