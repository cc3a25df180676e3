"""The admin token check every service shares, and the switch that turns admin routes off."""

# No `from __future__ import annotations`: FastAPI must see the dependency's signature.

import hmac
from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Header

from services.common.problems import Problem


def admin_guard(token: str, *, enabled: bool) -> Callable[..., Awaitable[None]]:
    """A dependency: 404 when admin routes are switched off, 403 without the admin token.

    The token is compared in constant time, so its bytes cannot be guessed one by one.
    """

    async def admin(authorization: Annotated[str | None, Header()] = None) -> None:
        require_admin(authorization, token=token, enabled=enabled)

    return admin


def require_admin(authorization: str | None, *, token: str, enabled: bool) -> None:
    """The check of `admin_guard`, for a caller that reads the token at request time."""
    if not enabled:
        raise Problem(
            404, "not-found", "Not found", "admin endpoints are switched off (SW_ADMIN_ENABLED)"
        )
    given = (authorization or "").removeprefix("Bearer ").strip()
    if not (authorization or "").startswith("Bearer ") or not hmac.compare_digest(
        given.encode(), token.encode()
    ):
        raise Problem(403, "forbidden", "Forbidden", "the admin token is required")
