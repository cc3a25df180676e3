"""Which enterprise an API key belongs to: the process's cache, then the shared database.

Each gateway process caches key hashes; an enterprise registered through another replica
is found in the database on first use and cached from then on.
"""

from __future__ import annotations

import hmac

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from gateway.store import Enterprise, hash_key


async def enterprise_of(engine: AsyncEngine, keys: dict[str, str], api_key: str) -> str | None:
    """The enterprise id of `api_key`, or None; hashes compared in constant time."""
    digest = hash_key(api_key)
    for stored, enterprise_id in keys.items():
        if hmac.compare_digest(stored, digest):
            return enterprise_id
    table = Enterprise.__table__  # type: ignore[attr-defined]
    async with engine.connect() as conn:
        row = (await conn.execute(select(table.c.id).where(table.c.api_key_hash == digest))).first()
    if row is None:
        return None
    keys[digest] = row.id
    return str(row.id)
