"""Who sends a request: the `Authorization: Bearer` header read once, API keys looked up once.

Each gateway process caches key hashes; an enterprise registered through another replica
is found in the shared database on first use and cached from then on.
"""

from __future__ import annotations

import hmac

from sqlalchemy import select

from gateway.core.errors import Unauthorized
from gateway.core.store import Enterprise, hash_key
from services.common.runtime import Runtime

OPERATOR = ""  # the caller of the admin token: any enterprise's declarations (falsy: no scope)
BEARER = "Bearer "


def bearer(authorization: str | None) -> str | None:
    """The token of an `Authorization: Bearer <token>` header; None without one."""
    if not authorization or not authorization.startswith(BEARER):
        return None
    return authorization.removeprefix(BEARER).strip()


class Keys:
    """API keys by their hash (SHA-256 of the secret): the process's cache, then the database.

    Found by hash in a dict, not compared with every cached key: a lookup by a digest tells a
    timing attacker nothing of the secret itself.
    """

    def __init__(self, runtime: Runtime, admin_token: str) -> None:
        self.runtime = runtime  # its engine exists once the runtime started
        self.admin_token = admin_token
        self.known: dict[str, str] = {}  # key hash → enterprise id

    def add(self, api_key: str, enterprise_id: str) -> None:
        """Remember a key registered in this process (after its transaction committed)."""
        self.known[hash_key(api_key)] = enterprise_id

    async def enterprise_of(self, api_key: str) -> str | None:
        """The enterprise id of `api_key`, or None."""
        digest = hash_key(api_key)
        known = self.known.get(digest)
        if known is not None:
            return known
        table = Enterprise.__table__  # type: ignore[attr-defined]
        async with self.runtime.engine.connect() as conn:
            stmt = select(table.c.id).where(table.c.api_key_hash == digest)
            row = (await conn.execute(stmt)).first()
        if row is None:
            return None
        self.known[digest] = row.id
        return str(row.id)

    def is_admin(self, token: str) -> bool:
        """Whether a token is the admin token (compared in constant time)."""
        return hmac.compare_digest(token.encode(), self.admin_token.encode())

    async def enterprise(self, authorization: str | None) -> str:
        """The enterprise of an `Authorization` header; a 401 without a known API key."""
        token = bearer(authorization)
        if token is None:
            raise Unauthorized("send the API key as `Authorization: Bearer <key>`")
        found = await self.enterprise_of(token)
        if found is None:
            raise Unauthorized("unknown API key")
        return found

    async def caller(self, authorization: str | None) -> str | None:
        """The operator (OPERATOR), an enterprise id, or None: who an `Authorization` header names."""
        token = bearer(authorization)
        if token is None:
            return None
        if self.is_admin(token):
            return OPERATOR
        return await self.enterprise_of(token)
