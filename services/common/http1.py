"""A lean HTTP/1.1 client: the load tool's submissions and the gateway's webhook POSTs.

Both run on the machine they serve or measure, so their own CPU is taken from the rest of the
system; httpx costs several times this client's CPU a request (bench/RESULTS.md). A request
goes out in one write and its answer is read from an asyncio stream. A `Pool` holds
keep-alive connections to one server, one request at a time each; a `Client` keeps a pool
per origin and closes one left idle.

A POST is never sent twice silently: an idle connection the server closed is replaced before
anything is written on it; once a byte may have reached the server, a broken connection is
the caller's error, not a retry. Errors are named as httpx names them (`ConnectError`,
`ReadError`, `TimeoutException`, …), so the load report's and the delivery log's counts keep
their meaning; https verifies with certifi's CA bundle (`default_tls()`), as httpx does.
"""

from __future__ import annotations

import asyncio
import base64
import functools
import json
import ssl
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, unquote, urlsplit

MAX_HEADER_BYTES = 64 * 1024


def default_tls() -> ssl.SSLContext:
    """Certificate and host name checks against the CA bundle httpx uses (certifi's) when it is
    installed, so a receiver trusted before is trusted now; else the system's store."""
    try:
        import certifi
    except ImportError:  # pragma: no cover - certifi comes with httpx
        return ssl.create_default_context()
    return ssl.create_default_context(cafile=certifi.where())


class HTTPError(Exception):
    """A request got no usable answer."""


class TimeoutException(HTTPError):
    """The request (connecting included) did not end within the pool's timeout."""


class ConnectError(HTTPError):
    """No connection could be opened to the server."""


class WriteError(HTTPError):
    """The connection broke while the request was being written."""


class ReadError(HTTPError):
    """The connection broke while the answer was being read."""


class RemoteProtocolError(HTTPError):
    """The server closed without answering, or answered something that is not HTTP/1.1."""


class InvalidURL(HTTPError):
    """The URL cannot be requested: not http(s), no host, a host that is not a name."""


@dataclass(frozen=True)
class Response:
    """Status, headers (names in lower case), the whole body, and when it was sent."""

    status_code: int
    headers: dict[str, str]
    content: bytes
    sent_at: float  # wall-clock time.time() as the request was written

    def json(self) -> Any:
        return json.loads(self.content)

    @property
    def text(self) -> str:
        """The body decoded by the charset the Content-Type names, UTF-8 if none (or unknown)."""
        charset = "utf-8"
        for param in self.headers.get("content-type", "").split(";")[1:]:
            name, _, value = param.partition("=")
            if name.strip().lower() == "charset" and value.strip():
                charset = value.strip().strip('"')
        try:
            return self.content.decode(charset, errors="replace")
        except LookupError:
            return self.content.decode("utf-8", errors="replace")

    @property
    def is_success(self) -> bool:
        """A 2xx answer."""
        return 200 <= self.status_code < 300


class _Connection:
    """One keep-alive connection: a reader and a writer, used by one request at a time."""

    __slots__ = ("reader", "writer")

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    def reusable(self) -> bool:
        """Open, and nothing unasked-for (an end of stream, stray bytes) waiting to be read."""
        return not (
            self.writer.transport.is_closing()
            or self.reader.at_eof()
            or self.reader.exception() is not None
            or len(getattr(self.reader, "_buffer", b"")) > 0
        )

    def close(self) -> None:
        self.writer.close()


class Pool:
    """`connections` persistent connections to one server; requests wait for an idle one."""

    def __init__(
        self,
        base_url: str,
        *,
        connections: int,
        headers: dict[str, str] | None = None,
        timeout: float = 30.0,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        url = urlsplit(base_url)
        if url.scheme not in ("http", "https") or not url.hostname:
            raise ValueError(f"not an http(s) URL: {base_url!r}")
        self._host = url.hostname
        self._tls = url.scheme == "https"
        self._port = url.port or (443 if self._tls else 80)
        self._ssl = (ssl_context or default_tls()) if self._tls else None
        self._prefix = url.path.rstrip("/")
        self._timeout = timeout
        default_port = self._port == (443 if self._tls else 80)
        host = f"[{self._host}]" if ":" in self._host else self._host
        fixed = {"Host": host if default_port else f"{host}:{self._port}", **(headers or {})}
        self._fixed = "".join(f"{k}: {v}\r\n" for k, v in fixed.items())
        # Each slot holds an idle connection, or None for one not opened (or since closed).
        # Last in, first out: the connection just used goes next, and a new one is opened
        # only when more requests are in flight than connections are open.
        self._idle: asyncio.LifoQueue[_Connection | None] = asyncio.LifoQueue()
        for _ in range(max(1, connections)):
            self._idle.put_nowait(None)
        self._open: set[_Connection] = set()
        self.connects = 0  # connections opened so far
        self.busy = 0  # requests in flight or waiting for a connection
        self.used_at = time.monotonic()  # when the last request ended

    async def aclose(self) -> None:
        """Close every open connection."""
        for conn in list(self._open):
            self._discard(conn)

    async def post_json(
        self, path: str, body: Any, headers: dict[str, str] | None = None
    ) -> Response:
        """POST `body` as compact JSON to `path` under the base URL's path."""
        data = json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()
        return await self.request("POST", path, data, "application/json", headers)

    async def request(
        self,
        method: str,
        path: str,
        body: bytes = b"",
        content_type: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> Response:
        """Send one request (`path` under the base URL's path, query included) and read the
        answer; `headers` are added to the pool's own (names and values must not hold CR/LF)."""
        head = f"{method} {self._prefix}{path} HTTP/1.1\r\n{self._fixed}"
        if content_type:
            head += f"Content-Type: {content_type}\r\n"
        if headers:
            head += "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        payload = f"{head}Content-Length: {len(body)}\r\n\r\n".encode("latin-1") + body
        self.busy += 1
        try:
            return await self._send(payload)
        finally:
            self.busy -= 1
            self.used_at = time.monotonic()

    async def _send(self, payload: bytes) -> Response:
        conn = await self._idle.get()
        try:
            async with asyncio.timeout(self._timeout):
                if conn is not None and not conn.reusable():
                    # Closed by the server while idle (its keep-alive timeout): nothing of this
                    # request was written on it, so a fresh connection is safe.
                    self._discard(conn)
                    conn = None
                if conn is None:
                    conn = await self._connect()
                response, keep = await self._exchange(conn, payload)
        except TimeoutError:
            self._discard(conn)
            self._idle.put_nowait(None)
            raise TimeoutException(f"no answer within {self._timeout} s") from None
        except BaseException:
            self._discard(conn)
            self._idle.put_nowait(None)
            raise
        if keep:
            self._idle.put_nowait(conn)
        else:
            self._discard(conn)
            self._idle.put_nowait(None)
        return response

    async def _connect(self) -> _Connection:
        try:
            reader, writer = await asyncio.open_connection(
                self._host,
                self._port,
                ssl=self._ssl,
                server_hostname=self._host if self._tls else None,
                limit=MAX_HEADER_BYTES,
            )
        except (OSError, ssl.SSLError) as exc:
            raise ConnectError(str(exc) or type(exc).__name__) from exc
        self.connects += 1
        conn = _Connection(reader, writer)
        self._open.add(conn)
        return conn

    def _discard(self, conn: _Connection | None) -> None:
        if conn is not None:
            conn.close()
            self._open.discard(conn)

    async def _exchange(self, conn: _Connection, payload: bytes) -> tuple[Response, bool]:
        """Write the request, read the answer; whether the connection may carry another."""
        sent_at = time.time()
        try:
            conn.writer.write(payload)
            await conn.writer.drain()
        except (OSError, RuntimeError) as exc:
            raise WriteError(str(exc) or type(exc).__name__) from exc
        reader = conn.reader
        try:
            while True:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except asyncio.IncompleteReadError as exc:
                    if not exc.partial:
                        raise RemoteProtocolError(
                            "Server disconnected without sending a response."
                        ) from None
                    raise ReadError("connection closed inside the response's head") from None
                status, version, headers = _parse_head(head)
                if status >= 200 or status == 101:
                    break  # 1xx interim answers (100 Continue, 103 Early Hints) are skipped
            body, to_eof = await _read_body(reader, status, headers)
        except asyncio.LimitOverrunError:
            raise RemoteProtocolError("response head too long") from None
        except asyncio.IncompleteReadError:
            raise ReadError("connection closed inside the response's body") from None
        except (OSError, ssl.SSLError) as exc:
            raise ReadError(str(exc) or type(exc).__name__) from exc
        connection = headers.get("connection", "").lower()
        keep = not to_eof and (
            "keep-alive" in connection if version == "HTTP/1.0" else "close" not in connection
        )
        return Response(status, headers, body, sent_at), keep


@dataclass(kw_only=True, eq=False)
class Client:
    """Requests to absolute URLs: a `Pool` per origin (scheme, host, port), made on first use.

    Each pool opens up to `connections` connections as its requests in flight need them. A
    pool with nothing in flight for `idle_s` is closed (its connections with it) by the next
    request to any origin, so a client that posts to many receivers does not keep a socket
    open to each for good. Userinfo in a URL becomes Basic authorization, as with httpx.
    """

    connections: int
    timeout: float
    headers: dict[str, str] | None = None
    ssl_context: ssl.SSLContext | None = None
    idle_s: float = 5.0
    _pools: dict[str, Pool] = field(default_factory=dict, init=False)
    _swept_at: float = field(default_factory=time.monotonic, init=False)

    @property
    def pools(self) -> int:
        """The origins with a pool open."""
        return len(self._pools)

    async def aclose(self) -> None:
        """Close every pool."""
        pools, self._pools = list(self._pools.values()), {}
        for pool in pools:
            await pool.aclose()

    async def post(self, url: str, body: bytes, headers: dict[str, str] | None = None) -> Response:
        """POST `body` to `url` with `headers` (Content-Length is added)."""
        origin, target, auth = _split(url)
        self._sweep()
        pool = self._pools.get(origin)
        if pool is None:
            if self.ssl_context is None and origin.startswith("https:"):
                # Made once and shared by every pool: loading the trusted certificates
                # costs a tenth of a second of CPU.
                self.ssl_context = default_tls()
            try:
                pool = Pool(
                    origin,
                    connections=self.connections,
                    headers=self.headers,
                    timeout=self.timeout,
                    ssl_context=self.ssl_context,
                )
            except ValueError as exc:
                raise InvalidURL(str(exc)) from None
            self._pools[origin] = pool
        if auth is not None:
            headers = {"Authorization": auth, **(headers or {})}
        return await pool.request("POST", target, body, headers=headers)

    def _sweep(self) -> None:
        now = time.monotonic()
        if now - self._swept_at < self.idle_s:
            return
        self._swept_at = now
        for origin, pool in list(self._pools.items()):
            if pool.busy == 0 and now - pool.used_at >= self.idle_s:
                del self._pools[origin]
                for conn in list(pool._open):
                    pool._discard(conn)


@functools.lru_cache(maxsize=1024)  # a sender posts to the same few URLs over and over
def _split(url: str) -> tuple[str, str, str | None]:
    """An absolute URL's origin, its request target (path and query, unsafe bytes escaped),
    and the Basic authorization its userinfo asks for (None without one)."""
    try:
        parts = urlsplit(url)
        host, port = parts.hostname, parts.port
    except ValueError as exc:  # a port that is not a number, an unclosed [
        raise InvalidURL(f"{exc}: {url!r}") from None
    if parts.scheme not in ("http", "https") or not host:
        raise InvalidURL(f"not an absolute http(s) URL: {url!r}")
    try:
        name = host if ":" in host else host.encode("idna").decode("ascii")
    except UnicodeError:
        raise InvalidURL(f"not a host name: {host!r}") from None
    netloc = f"[{name}]" if ":" in name else name
    origin = f"{parts.scheme}://{netloc}" + (f":{port}" if port is not None else "")
    target = quote(parts.path or "/", safe=_SAFE)
    if parts.query:
        target += "?" + quote(parts.query, safe=_SAFE)
    auth = None
    if parts.username is not None or parts.password is not None:
        pair = f"{unquote(parts.username or '')}:{unquote(parts.password or '')}"
        auth = "Basic " + base64.b64encode(pair.encode()).decode("ascii")
    return origin, target, auth


# Everything printable in ASCII but the space passes as it is (escapes already in the URL
# included); spaces, control characters and non-ASCII text are percent-encoded as UTF-8.
_SAFE = "".join(chr(c) for c in range(0x21, 0x7F))


def _parse_head(head: bytes) -> tuple[int, str, dict[str, str]]:
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ", 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/1.") or not parts[1].isdigit():
        raise RemoteProtocolError(f"not an HTTP/1.x status line: {lines[0]!r}")
    headers: dict[str, str] = {}
    for line in lines[1:]:
        if not line:
            continue
        name, sep, value = line.partition(":")
        if not sep:
            raise RemoteProtocolError(f"malformed header line: {line!r}")
        key = name.strip().lower()
        value = value.strip()
        headers[key] = f"{headers[key]}, {value}" if key in headers else value
    return int(parts[1]), parts[0], headers


async def _read_body(
    reader: asyncio.StreamReader, status: int, headers: dict[str, str]
) -> tuple[bytes, bool]:
    """The body, and whether it ran to the end of the connection (which cannot be reused)."""
    if status in (204, 304) or 100 <= status < 200:
        return b"", False
    if "chunked" in headers.get("transfer-encoding", "").lower():
        return await _read_chunked(reader), False
    length = headers.get("content-length")
    if length is not None:
        if not length.isdigit():
            raise RemoteProtocolError(f"bad Content-Length: {length!r}")
        return await reader.readexactly(int(length)), False
    return await reader.read(), True


async def _read_chunked(reader: asyncio.StreamReader) -> bytes:
    chunks: list[bytes] = []
    while True:
        line = await reader.readuntil(b"\r\n")
        size_text = line.split(b";", 1)[0].strip()
        try:
            size = int(size_text, 16)
        except ValueError:
            raise RemoteProtocolError(f"bad chunk size: {size_text!r}") from None
        if size == 0:
            while await reader.readuntil(b"\r\n") != b"\r\n":
                pass  # trailers: read and ignored
            return b"".join(chunks)
        chunks.append(await reader.readexactly(size))
        if await reader.readexactly(2) != b"\r\n":
            raise RemoteProtocolError("chunk not followed by CRLF")
