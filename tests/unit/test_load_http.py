"""The load tool's lean HTTP/1.1 client against a real local server speaking HTTP/1.1 over TCP."""

from __future__ import annotations

import asyncio
import json
import shutil
import ssl
import subprocess
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from singlewindow.load import http
from singlewindow.load.plan import MixEntry
from singlewindow.load.runner import LoadConfig, LoadRun


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
        if word == "chunked":
            writer.write(
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                b"5\r\nhello\r\n1;ext=1\r\n,\r\n6\r\n world\r\n0\r\nX-Trailer: t\r\n\r\n"
            )
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
        elif word == "missing":
            writer.write(b"HTTP/1.1 404 Not Found\r\nContent-Length: 9\r\n\r\nnot found")
        else:
            body = json.dumps({"id": f"d-{len(self.requests)}"}).encode()
            writer.write(
                b"HTTP/1.1 202 Accepted\r\nContent-Type: application/json\r\n"
                b"Content-Length: %d\r\n\r\n%s" % (len(body), body)
            )
        await writer.drain()
        return True


@pytest.fixture
async def server() -> AsyncIterator[Server]:
    state = Server()
    srv = await asyncio.start_server(state.handle, "127.0.0.1", 0)
    state.port = srv.sockets[0].getsockname()[1]
    async with srv:
        yield state
        state.release.set()


def pool_for(
    server: Server, connections: int = 2, timeout: float = 5.0, under: str = ""
) -> http.Pool:
    return http.Pool(
        f"http://127.0.0.1:{server.port}/prefix{under}",
        connections=connections,
        timeout=timeout,
        headers={"Authorization": "Bearer k"},
    )


async def test_many_requests_share_at_most_the_pools_connections(server: Server) -> None:
    pool = pool_for(server, connections=3)
    answers = await asyncio.gather(
        *(pool.post_json("/v1/declarations", {"n": i}) for i in range(30))
    )
    await pool.aclose()
    assert [a.status_code for a in answers] == [202] * 30
    assert len({a.json()["id"] for a in answers}) == 30
    assert server.connections <= 3 and pool.connects == server.connections
    assert sorted(json.loads(r.body)["n"] for r in server.requests) == list(range(30))


async def test_a_request_carries_the_prefix_host_key_and_a_json_body(server: Server) -> None:
    pool = pool_for(server)
    await pool.post_json("/v1/declarations", {"reference": "中文", "n": 1})
    await pool.aclose()
    (seen,) = server.requests
    assert (seen.method, seen.path) == ("POST", "/prefix/v1/declarations")
    assert seen.headers["host"] == f"127.0.0.1:{server.port}"
    assert seen.headers["authorization"] == "Bearer k"
    assert seen.headers["content-type"] == "application/json"
    assert int(seen.headers["content-length"]) == len(seen.body)
    assert json.loads(seen.body) == {"reference": "中文", "n": 1}


async def test_a_chunked_body_is_read_whole_and_the_connection_kept(server: Server) -> None:
    pool = pool_for(server, connections=1)
    first = await pool.post_json("/chunked", {})
    second = await pool.post_json("/chunked", {})
    await pool.aclose()
    assert first.content == second.content == b"hello, world"
    assert server.connections == 1


async def test_connection_close_from_the_server_makes_the_next_request_reconnect(
    server: Server,
) -> None:
    pool = pool_for(server, connections=1)
    closing = await pool.post_json("/close", {})
    after = await pool.post_json("/v1/declarations", {})
    await pool.aclose()
    assert (closing.status_code, closing.content) == (200, b"bye")
    assert after.status_code == 202
    assert server.connections == 2 and len(server.requests) == 2


async def test_a_connection_closed_while_idle_is_replaced_before_sending(server: Server) -> None:
    pool = pool_for(server, connections=1)
    await pool.post_json("/idle-close", {})
    await server.closed_idle.wait()
    # The client has seen the end of the stream on its idle connection.
    (idle,) = pool._open
    assert await asyncio.wait_for(idle.reader.read(), 2) == b""
    assert not idle.reusable()
    after = await pool.post_json("/v1/declarations", {"n": 2})
    await pool.aclose()
    assert after.status_code == 202
    assert server.connections == 2
    assert [json.loads(r.body) for r in server.requests] == [{}, {"n": 2}]


async def test_a_post_the_server_read_and_dropped_is_an_error_not_a_second_send(
    server: Server,
) -> None:
    pool = pool_for(server, connections=1)
    with pytest.raises(http.RemoteProtocolError):
        await pool.post_json("/drop", {"once": True})
    with pytest.raises(http.ReadError):
        await pool.post_json("/half", {"once": True})
    after = await pool.post_json("/v1/declarations", {})
    await pool.aclose()
    assert [r.path for r in server.requests] == [
        "/prefix/drop",
        "/prefix/half",
        "/prefix/v1/declarations",
    ]
    assert [json.loads(r.body) for r in server.requests[:2]] == [{"once": True}] * 2
    assert after.status_code == 202


async def test_a_request_without_an_answer_in_time_is_a_timeout(server: Server) -> None:
    pool = pool_for(server, connections=1, timeout=0.2)
    with pytest.raises(http.TimeoutException):
        await pool.post_json("/slow", {})
    after = await pool.post_json("/v1/declarations", {})  # on a fresh connection
    await pool.aclose()
    assert after.status_code == 202
    assert len(server.requests) == 2 and server.connections == 2


async def test_a_non_2xx_answer_is_returned_and_the_connection_kept(server: Server) -> None:
    pool = pool_for(server, connections=1)
    missing = await pool.post_json("/missing", {})
    after = await pool.post_json("/v1/declarations", {})
    await pool.aclose()
    assert (missing.status_code, missing.content) == (404, b"not found")
    assert after.status_code == 202 and server.connections == 1


async def test_no_server_is_a_connect_error(server: Server) -> None:
    probe = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port = probe.sockets[0].getsockname()[1]
    probe.close()
    await probe.wait_closed()
    pool = http.Pool(f"http://127.0.0.1:{port}", connections=1)
    with pytest.raises(http.ConnectError):
        await pool.post_json("/v1/declarations", {})


async def test_the_load_run_counts_each_failure_under_its_http_kind(server: Server) -> None:
    run = LoadRun(LoadConfig(f"http://127.0.0.1:{server.port}", "k", "unused:9092"))
    entry = MixEntry("export", "0110", "happy", 1.0)
    for seq, (under, timeout) in enumerate(
        (("", 5.0), ("/x", 5.0), ("/drop", 5.0), ("/slow", 0.2), ("/missing", 5.0))
    ):
        pool = pool_for(server, connections=1, timeout=timeout, under=under)
        await run._submit(pool, run._now(), entry, seq)
        await pool.aclose()
    assert run.recorder.accept.get_total_count() == 2
    assert len(run.tracks) == 2
    assert len(server.requests) == 5  # one each: nothing was sent twice
    assert dict(run.recorder.errors) == {
        "http_RemoteProtocolError": 1,
        "http_timeout": 1,
        "http_404": 1,
    }


@pytest.fixture
def self_signed(tmp_path: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 and its key, made by the openssl command."""
    if shutil.which("openssl") is None:
        pytest.skip("needs the openssl command")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        [
            *("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1"),
            *("-keyout", str(key), "-out", str(cert), "-subj", "/CN=127.0.0.1"),
            *("-addext", "subjectAltName=IP:127.0.0.1"),
        ],
        check=True,
        capture_output=True,
    )
    return cert, key


async def test_https_goes_through_the_ssl_context(self_signed: tuple[Path, Path]) -> None:
    cert, key = self_signed
    served = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    served.load_cert_chain(cert, key)
    state = Server()
    srv = await asyncio.start_server(state.handle, "127.0.0.1", 0, ssl=served)
    port = srv.sockets[0].getsockname()[1]
    trusting = ssl.create_default_context(cafile=str(cert))
    async with srv:
        pool = http.Pool(f"https://127.0.0.1:{port}/p", connections=1, ssl_context=trusting)
        answers = [await pool.post_json("/v1/declarations", {"n": i}) for i in range(3)]
        await pool.aclose()
        with pytest.raises(http.ConnectError):  # the default context does not trust it
            await http.Pool(f"https://127.0.0.1:{port}", connections=1).post_json("/", {})
    assert [a.status_code for a in answers] == [202] * 3
    assert [r.path for r in state.requests] == ["/p/v1/declarations"] * 3
    assert state.connections == 1  # all three on one connection; the refused one never got in
