"""Which enterprise an API key belongs to: the process's cache, then the shared database.

Each gateway process caches key hashes; an enterprise registered through another replica
is found in the database on first use and cached from then on.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import Header
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from gateway.core.store import Enterprise, hash_key
from services.common.problems import Problem
from services.common.runtime import Runtime


async def enterprise_of(engine: AsyncEngine, keys: dict[str, str], api_key: str) -> str | None:
    """The enterprise id of `api_key`, or None.

    Found by its hash in a dict, not compared with every cached key: a lookup by a digest
    (SHA-256 of the secret) tells a timing attacker nothing of the secret itself.
    """
    digest = hash_key(api_key)
    known = keys.get(digest)
    if known is not None:
        return known
    table = Enterprise.__table__  # type: ignore[attr-defined]
    async with engine.connect() as conn:
        row = (await conn.execute(select(table.c.id).where(table.c.api_key_hash == digest))).first()
    if row is None:
        return None
    keys[digest] = row.id
    return str(row.id)


def _bearer(authorization: str | None) -> str:
    if not authorization or not authorization.startswith("Bearer "):
        raise Problem(
            401, "unauthorized", "Unauthorized", "send the API key as `Authorization: Bearer <key>`"
        )
    return authorization.removeprefix("Bearer ").strip()


def enterprise_auth(keys: dict[str, str], runtime: Runtime) -> Callable[..., Any]:
    """The dependency that turns `Authorization: Bearer <key>` into the caller's enterprise id.

    Keys registered through another gateway replica are found in the shared database.
    """

    async def enterprise(authorization: Annotated[str | None, Header()] = None) -> str:
        found = await enterprise_of(runtime.engine, keys, _bearer(authorization))
        if found is None:
            raise Problem(401, "unauthorized", "Unauthorized", "unknown API key")
        return found

    return enterprise
