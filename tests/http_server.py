"""A real HTTP/1.1 server over TCP, in the test's own event loop, answering by path.

For the tests of the lean HTTP client (services/common/http1.py) and of the webhook sender
that posts through it: each path's second segment (`/prefix/<word>/…`) picks an answer.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import ssl
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

# Answers that leave the connection open, by word.
FIXED = {
    "chunked": b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
    b"5\r\nhello\r\n1;ext=1\r\n,\r\n6\r\n world\r\n0\r\nX-Trailer: t\r\n\r\n",
    "latin": b"HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=iso-8859-1\r\n"
    b"Content-Length: 5\r\n\r\nre\xe7u!",
    "moved": b"HTTP/1.1 302 Found\r\nLocation: /elsewhere\r\nContent-Length: 0\r\n\r\n",
    "missing": b"HTTP/1.1 404 Not Found\r\nContent-Length: 9\r\n\r\nnot found",
}


@dataclass
class Seen:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Server:
    """Answers by path; records every request it read and every connection it accepted."""

    port: int = 0
    connections: int = 0
    requests: list[Seen] = field(default_factory=list)
    release: asyncio.Event = field(default_factory=asyncio.Event)
    closed_idle: asyncio.Event = field(default_factory=asyncio.Event)

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            while True:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except asyncio.IncompleteReadError:
                    return
                line, *rest = head.decode("latin-1").rstrip("\r\n").split("\r\n")
                method, path, _ = line.split(" ")
                headers = {k.lower(): v.strip() for k, v in (h.split(":", 1) for h in rest)}
                body = await reader.readexactly(int(headers.get("content-length", "0")))
                self.requests.append(Seen(method, path, headers, body))
                if not await self.answer(path, writer):
                    return
        finally:
            writer.close()

    async def answer(self, path: str, writer: asyncio.StreamWriter) -> bool:
        """Write the answer to `path` (by its first word); whether the connection stays open."""
        word = path.split("/")[2]  # /prefix/<word>/…
        if word in FIXED:
            writer.write(FIXED[word])
        elif word == "close":
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nConnection: close\r\n\r\nbye")
            await writer.drain()
            return False
        elif word == "idle-close":
            # Answers as if the connection stayed open, then closes it (a keep-alive timeout).
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
            await writer.drain()
            writer.close()
            await writer.wait_closed()
            self.closed_idle.set()
            return False
        elif word == "drop":
            return False  # read the request, closed without a word
        elif word == "half":
            writer.write(b"HTTP/1.1 202 Accepted\r\nContent-Length: 100\r\n\r\n{")
            await writer.drain()
            return False
        elif word == "slow":
            await self.release.wait()
            return False
        else:
            body = json.dumps({"id": f"d-{len(self.requests)}"}).encode()
            writer.write(
                b"HTTP/1.1 202 Accepted\r\nContent-Type: application/json\r\n"
                b"Content-Length: %d\r\n\r\n%s" % (len(body), body)
            )
        await writer.drain()
        return True


@contextlib.asynccontextmanager
async def serving(tls: ssl.SSLContext | None = None) -> AsyncIterator[Server]:
    """A Server listening on a free port of 127.0.0.1 (behind TLS with `tls`) while inside."""
    state = Server()
    srv = await asyncio.start_server(state.handle, "127.0.0.1", 0, ssl=tls)
    state.port = srv.sockets[0].getsockname()[1]
    async with srv:
        yield state
        state.release.set()
