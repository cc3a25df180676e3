"""Which enterprise an API key belongs to: the process's cache, then the shared database.

Each gateway process caches key hashes; an enterprise registered through another replica
is found in the database on first use and cached from then on.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from gateway.store import Enterprise, hash_key


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
