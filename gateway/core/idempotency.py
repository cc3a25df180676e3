"""`Idempotency-Key` on every POST under /v1: the first answer is stored and replayed.

One mechanism for every route, an ASGI middleware around the API:

- A POST with an `Idempotency-Key` header *claims* the key for its caller (the enterprise of
  the API key, or `admin` for the admin token) and its route (method and path), with a
  fingerprint of the request (method, path, query and body bytes). The claim is committed
  before the route runs, so a second request with the key while the first runs gets a 409
  (`idempotency-key-in-flight`), on any replica.
- The route's answer (status, body, content type) is stored under the claim before it is
  sent, and replayed for the same key with `Idempotent-Replayed: true`, 4xx answers included.
- The same key with a different request is a 422 (`idempotency-key-reused`).
- 5xx answers, and problems that say "try again" (a `retriable` error: 409 `conflict`,
  changed meanwhile), are not stored: the
  claim is dropped so that a retry with the same key runs again and may succeed.
- Keys last 24 h from their first use; older ones are purged when a key is claimed.
- A claim whose request never finished (its gateway died) lapses after `LEASE_S`; a retry then
  takes it over. While its request runs, the middleware renews the claim's lease every
  `LEASE_S / 3`, so a slow request is not taken over; only a dead gateway's claim lapses. The
  claim's `token` fences it: only the holder may renew it or record the answer.

Every route that changes something records its answer itself, in the transaction of its own
change (`Answer`, which calls `record`): a crash between that commit and the answer still
replays the answer, never the change twice. They are the submissions (one and batch), the
filings (payments, returns), `advance`, webhook endpoint creation and redelivery, the test
helpers (outcomes, clock advance) and the admin's enterprises, retry, cancel and dead-letter
replay. Where the change is not only rows, it goes through the outbox or happens after:
dead-letter replay queues the message in the outbox of that transaction (the relay sends it);
redelivery wakes the webhook sender after the commit (after a crash the sender finds the
queued delivery itself); a new enterprise's key enters this process's cache after the commit
(other processes look unknown keys up in the database).

The middleware stores the other answers right after the route returns: refusals (4xx), which
change nothing. A gateway that dies in between leaves a claim that lapses, and the retry runs
the route again, which refuses or acts as it would have the first time.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI, Request, Response
from pydantic import BaseModel
from sqlalchemy import Connection
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway.core.errors import RETRY_TYPES
from gateway.core.keys import OPERATOR, Keys
from gateway.core.store import IdempotentRequest
from services.common.bodies import scope_headers
from services.common.problems import MEDIA_TYPE, Problem, problem_response
from services.common.rawsql import Driver
from services.common.runtime import Runtime

log = logging.getLogger(__name__)

HEADER = "Idempotency-Key"
REPLAYED = "Idempotent-Replayed"
_HEADER_NAME = HEADER.lower().encode("latin-1")
MAX_KEY_LENGTH = 255
TTL_S = 24 * 3600  # a key is remembered this long after its first use
LEASE_S = 10.0  # an unfinished claim older than this is taken over by a retry
PREFIX = "/v1/"
STATE = "idempotency"  # the key of the claim in the request's ASGI state
ADMIN = "admin"  # the caller of the admin token (enterprise ids start `ent_`)

# The statements run on the DBAPI connection (services/common/rawsql.py): through SQLAlchemy
# Core, compiling them took more of a keyed submission's CPU than the submission itself.
_TABLE = IdempotentRequest.__tablename__
_KEY = "caller = ? AND route = ? AND key = ?"
_HELD = f"{_KEY} AND token = ? AND status_code IS NULL"


@dataclass
class Claim:
    """A key this request holds: where it is stored, and the token that fences it."""

    caller: str
    route: str
    key: str
    request_hash: str
    token: str
    recorded: bool = False  # the route stored its answer in its own transaction


@dataclass(frozen=True)
class Stored:
    """The first answer to a key, to be replayed."""

    status_code: int
    content_type: str | None
    body: bytes


def fingerprint(method: str, path: str, query: bytes, body: bytes) -> str:
    """What makes two requests the same request: method, path, query and body bytes."""
    digest = hashlib.sha256()
    for part in (method.encode(), path.encode(), query, body):
        digest.update(len(part).to_bytes(8, "big") + part)
    return digest.hexdigest()


def claim(
    conn: Connection, *, caller: str, route: str, key: str, request_hash: str, now: float
) -> Claim | Stored:
    """Claim a key for a request, or the stored answer to replay; a Problem when neither."""
    db = Driver(conn)
    db.run(f"DELETE FROM {_TABLE} WHERE created_at <= ?", (now - TTL_S,))
    rows = db.rows(
        "SELECT request_hash, status_code, content_type, response, created_at "
        f"FROM {_TABLE} WHERE {_KEY}",
        (caller, route, key),
    )
    token = uuid.uuid4().hex
    if not rows:
        db.run(
            f"INSERT INTO {_TABLE} (caller, route, key, request_hash, token, created_at) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            (caller, route, key, request_hash, token, now),
        )
        return Claim(caller, route, key, request_hash, token)
    stored_hash, status_code, content_type, response, created_at = rows[0]
    if stored_hash != request_hash:
        raise Problem(
            422,
            "idempotency-key-reused",
            "Idempotency-Key reused",
            f"this Idempotency-Key was used with a different request to {route}; "
            "send a new key for a new request",
            field=HEADER,
        )
    if status_code is not None:
        return Stored(status_code, content_type, bytes(response or b""))
    if created_at > now - LEASE_S:
        raise Problem(
            409,
            "idempotency-key-in-flight",
            "Request in flight",
            f"a request with this Idempotency-Key is still being processed; retry in a moment "
            f"(an unfinished one is given up after {LEASE_S:.0f} s)",
            field=HEADER,
        )
    db.run(
        f"UPDATE {_TABLE} SET token = ?, created_at = ? WHERE {_KEY}",
        (token, now, caller, route, key),
    )
    return Claim(caller, route, key, request_hash, token)


def store_answer(
    conn: Connection, held: Claim, *, status_code: int, content_type: str | None, body: bytes
) -> bool:
    """Record the answer of a claim still held; False when a retry took the key over."""
    done = Driver(conn).run(
        f"UPDATE {_TABLE} SET status_code = ?, content_type = ?, response = ? WHERE {_HELD}",
        (status_code, content_type, body, held.caller, held.route, held.key, held.token),
    )
    return done == 1


def renew(conn: Connection, held: Claim, *, now: float) -> bool:
    """Start a held claim's lease again at `now`; False when a retry took the key over."""
    done = Driver(conn).run(
        f"UPDATE {_TABLE} SET created_at = ? WHERE {_HELD}",
        (now, held.caller, held.route, held.key, held.token),
    )
    return done == 1


def release(conn: Connection, held: Claim) -> None:
    """Drop a claim without an answer to keep: a retry with the key runs again."""
    Driver(conn).run(
        f"DELETE FROM {_TABLE} WHERE {_HELD}", (held.caller, held.route, held.key, held.token)
    )


def claim_of(request: Request) -> Claim | None:
    """The key the current request holds, if it came with one."""
    return claim_in(request.scope)


def claim_in(scope: Scope) -> Claim | None:
    """The key the request of this ASGI scope holds, if it came with one."""
    found = scope.get("state", {}).get(STATE)
    return found if isinstance(found, Claim) else None


def record(
    conn: Connection, held: Claim | None, *, status_code: int, body: bytes, content_type: str
) -> None:
    """Record the answer inside the route's own transaction (that rolls back if the key was
    taken over meanwhile: the other request's answer stands)."""
    if held is None:
        return
    if not store_answer(conn, held, status_code=status_code, content_type=content_type, body=body):
        raise Problem(
            409,
            "idempotency-key-in-flight",
            "Request in flight",
            "another request with this Idempotency-Key took it over; retry to see its answer",
            field=HEADER,
        )


JSON = "application/json"


@dataclass
class Answer:
    """A route's answer, recorded under its Idempotency-Key in the transaction of its change.

    The route's unit of work ends with `return answer(conn, model), ...`; the route returns
    `await answer.kept(<what commits that unit>)`. The Response is the one FastAPI makes of
    `model` as the route's `response_model` (the same bytes, status and content type).
    """

    held: Claim | None
    status_code: int = 200

    @classmethod
    def to(cls, request: Request) -> Answer:
        """The answer to this request, with the key it holds if it came with one, and the
        status code its route declares (`status_code=` of the decorator; else 200)."""
        declared = getattr(request.scope.get("route"), "status_code", None)
        return cls(claim_of(request), declared or 200)

    def __call__(self, conn: Connection, model: BaseModel) -> Response:
        """The response of `model`, recorded in `conn`'s transaction (inside the unit)."""
        body = model.model_dump_json(by_alias=True).encode()
        record(conn, self.held, status_code=self.status_code, body=body, content_type=JSON)
        return Response(body, status_code=self.status_code, media_type=JSON)

    async def kept(self, committed: Awaitable[Response]) -> Response:
        """The response once its unit committed: the middleware need not store it again."""
        response = await committed
        if self.held is not None:
            self.held.recorded = True
        return response


Caller = Callable[[str | None], Awaitable[str | None]]
Write = Callable[[Callable[[Connection], Any]], Awaitable[Any]]


def callers(keys: Keys) -> Caller:
    """Who sends `Authorization: Bearer <token>`: the admin, an enterprise, or None."""

    async def caller_of(authorization: str | None) -> str | None:
        who = await keys.caller(authorization)
        return ADMIN if who == OPERATOR else who

    return caller_of


def install_idempotency(app: FastAPI, runtime: Runtime, keys: Keys) -> None:
    """Serve and document `Idempotency-Key` on every POST under /v1 (add it innermost)."""

    async def write(fn: Callable[[Connection], Any]) -> Any:
        return await runtime.intake.run(lambda conn: (fn(conn), ()))

    app.add_middleware(IdempotencyMiddleware, caller_of=callers(keys), write=write)
    document_idempotency(app)


class IdempotencyMiddleware:
    """Applies the above to every POST under /v1 that carries an Idempotency-Key.

    `caller_of(authorization)` names the caller (None: not authenticated, the route answers);
    `write(fn)` runs fn in a committed transaction.
    """

    def __init__(self, app: ASGIApp, *, caller_of: Caller, write: Write) -> None:
        self.app = app
        self.caller_of = caller_of
        self.write = write

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or scope["method"] != "POST"
            or not str(scope["path"]).startswith(PREFIX)
        ):
            await self.app(scope, receive, send)
            return
        headers = scope_headers(scope, _HEADER_NAME, b"authorization")
        key = headers.get(_HEADER_NAME, "").strip()
        authorization = headers.get(b"authorization")
        if not key:
            await self.app(scope, receive, send)
            return
        if len(key) > MAX_KEY_LENGTH:
            detail = f"{HEADER}: at most {MAX_KEY_LENGTH} characters"
            refused = problem_response(
                422,
                "validation",
                "Invalid request",
                detail,
                errors=[{"field": HEADER, "rule": "string_too_long", "message": detail}],
            )
            await refused(scope, receive, send)
            return
        caller = await self.caller_of(authorization)
        if caller is None:
            await self.app(scope, receive, send)
            return
        body = await _read(receive)
        route = f"POST {scope['path']}"
        request_hash = fingerprint("POST", scope["path"], scope.get("query_string", b""), body)
        now = time.time()
        try:
            found = await self.write(
                lambda conn: claim(
                    conn, caller=caller, route=route, key=key, request_hash=request_hash, now=now
                )
            )
        except Problem as exc:
            answer = problem_response(exc.status, exc.slug, exc.title, exc.detail, **exc.extra)
            await answer(scope, receive, send)
            return
        if isinstance(found, Stored):
            await _send_stored(found, send)
            return
        scope.setdefault("state", {})[STATE] = found
        await self._run(scope, _replay(body, receive), send, found)

    async def _run(self, scope: Scope, receive: Receive, send: Send, held: Claim) -> None:
        messages: list[Message] = []

        async def keep(message: Message) -> None:
            messages.append(message)

        answered: list[Message] | None = None  # None: the route raised
        renewing = asyncio.create_task(self._renew(held))
        try:
            await self.app(scope, receive, keep)
            answered = messages
        finally:
            renewing.cancel()
            await self._settle(held, answered)
        for message in messages:
            await send(message)

    async def _renew(self, held: Claim) -> None:
        """Keep the claim's lease while its request runs (cancelled once it has answered)."""
        while True:
            await asyncio.sleep(LEASE_S / 3)
            try:
                if not await self.write(lambda conn: renew(conn, held, now=time.time())):
                    return  # taken over (this process stalled past the lease): fenced out
            except Exception:  # the next renewal tries again; the lease may lapse meanwhile
                log.exception("could not renew the claim of Idempotency-Key %r", held.key)

    async def _settle(self, held: Claim, messages: list[Message] | None) -> None:
        """Store the answer of a finished request, or drop the claim of one not to replay."""
        start = next((m for m in messages or [] if m["type"] == "http.response.start"), None)
        try:
            answer = None if start is None else _answer(start, messages or [])
            if answer is None or not keeps(*answer):
                await self.write(lambda conn: release(conn, held))
            elif not held.recorded:
                status, content_type, body = answer
                await self.write(
                    lambda conn: store_answer(
                        conn, held, status_code=status, content_type=content_type, body=body
                    )
                )
        except Exception:  # the answer still goes out; the claim lapses after LEASE_S
            log.exception("could not record the answer to Idempotency-Key %r", held.key)


def _answer(start: Message, messages: list[Message]) -> tuple[int, str | None, bytes]:
    body = b"".join(m.get("body", b"") for m in messages if m["type"] == "http.response.body")
    headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in start["headers"]}
    return int(start["status"]), headers.get("content-type"), body


def keeps(status: int, content_type: str | None, body: bytes) -> bool:
    """Whether an answer is replayed: not a 5xx, not a problem that says "try again"."""
    if status >= 500:
        return False
    if content_type is not None and content_type.startswith(MEDIA_TYPE):
        return not any(f'"type":"{kind}"'.encode() in body for kind in RETRY_TYPES)
    return True


async def _send_stored(stored: Stored, send: Send) -> None:
    headers = [(REPLAYED.lower().encode(), b"true")]
    if stored.content_type:
        headers.append((b"content-type", stored.content_type.encode("latin-1")))
    headers.append((b"content-length", str(len(stored.body)).encode()))
    await send({"type": "http.response.start", "status": stored.status_code, "headers": headers})
    await send({"type": "http.response.body", "body": stored.body})


async def _read(receive: Receive) -> bytes:
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


def _replay(body: bytes, receive: Receive) -> Receive:
    delivered = False

    async def again() -> Message:
        nonlocal delivered
        if delivered:
            return await receive()
        delivered = True
        return {"type": "http.request", "body": body, "more_body": False}

    return again


PARAMETER: dict[str, Any] = {
    "name": HEADER,
    "in": "header",
    "required": False,
    "description": (
        "Any unique string (a UUID): the first answer to this POST is stored for 24 h and "
        "replayed, with `Idempotent-Replayed: true`, for a request with the same key. The same "
        "key with a different request is a 422 (`idempotency-key-reused`); while the first "
        "request runs, a 409 (`idempotency-key-in-flight`). 5xx answers are not stored."
    ),
    "schema": {"type": "string", "maxLength": MAX_KEY_LENGTH},
}


def document_idempotency(app: FastAPI) -> None:
    """Put the `Idempotency-Key` header parameter on every POST under /v1 of the OpenAPI doc."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        doc = generate()
        for path, operations in doc.get("paths", {}).items():
            post = operations.get("post") if path.startswith(PREFIX) else None
            if post is None:
                continue
            parameters = post.setdefault("parameters", [])
            if not any(p.get("name") == HEADER for p in parameters):
                parameters.append(PARAMETER)
        return doc

    app.openapi = openapi  # type: ignore[method-assign]
