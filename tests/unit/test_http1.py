"""The lean HTTP/1.1 client (the load tool's and the webhook sender's) against a real local
server speaking HTTP/1.1 over TCP."""

from __future__ import annotations

import asyncio
import json
import shutil
import ssl
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from services.common import http1 as http
from singlewindow.load.plan import MixEntry
from singlewindow.load.runner import LoadConfig, LoadRun
from tests.http_server import Server, serving


@pytest.fixture
async def server() -> AsyncIterator[Server]:
    async with serving() as state:
        yield state


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


@pytest.fixture
async def tls_server(
    self_signed: tuple[Path, Path],
) -> AsyncIterator[tuple[Server, ssl.SSLContext]]:
    """A Server behind TLS with the self-signed certificate, and a context that trusts it."""
    cert, key = self_signed
    served = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    served.load_cert_chain(cert, key)
    async with serving(served) as state:
        yield state, ssl.create_default_context(cafile=str(cert))


async def test_https_goes_through_the_ssl_context(
    tls_server: tuple[Server, ssl.SSLContext],
) -> None:
    state, trusting = tls_server
    port = state.port
    pool = http.Pool(f"https://127.0.0.1:{port}/p", connections=1, ssl_context=trusting)
    answers = [await pool.post_json("/v1/declarations", {"n": i}) for i in range(3)]
    await pool.aclose()
    with pytest.raises(http.ConnectError):  # the default context does not trust it
        await http.Pool(f"https://127.0.0.1:{port}", connections=1).post_json("/", {})
    assert [a.status_code for a in answers] == [202] * 3
    assert [r.path for r in state.requests] == ["/p/v1/declarations"] * 3
    assert state.connections == 1  # all three on one connection; the refused one never got in


# --- Client: absolute URLs, a pool per origin ---------------------------------------------------


async def test_the_client_keeps_one_pool_per_origin_and_reuses_its_connections(
    server: Server,
) -> None:
    client = http.Client(connections=4, timeout=5)
    async with serving() as other:
        for i in range(3):
            for port in (server.port, other.port):
                answer = await client.post(
                    f"http://127.0.0.1:{port}/prefix/hooks?n={i}", b'{"n":1}', {"SW-Test": str(i)}
                )
                assert answer.status_code == 202 and answer.is_success
        assert client.pools == 2
        await client.aclose()
    for state in (server, other):
        assert state.connections == 1  # three POSTs each, one keep-alive connection
        assert [r.path for r in state.requests] == [f"/prefix/hooks?n={i}" for i in range(3)]
        assert [r.headers["sw-test"] for r in state.requests] == ["0", "1", "2"]
        assert {r.headers["host"] for r in state.requests} == {f"127.0.0.1:{state.port}"}
        assert {r.body for r in state.requests} == {b'{"n":1}'}
        assert {r.headers["content-length"] for r in state.requests} == {"7"}


async def test_the_client_escapes_the_target_and_sends_userinfo_as_basic_auth(
    server: Server,
) -> None:
    client = http.Client(connections=1, timeout=5)
    url = f"http://us%20er:p%40ss@127.0.0.1:{server.port}/prefix/a b/中?q=x y&r=%2F#frag"
    await client.post(url, b"")
    await client.aclose()
    (seen,) = server.requests
    assert seen.path == "/prefix/a%20b/%E4%B8%AD?q=x%20y&r=%2F"
    assert seen.headers["authorization"] == "Basic dXMgZXI6cEBzcw=="  # "us er:p@ss"


@pytest.mark.parametrize(
    "url", ["ftp://127.0.0.1/x", "http:///no-host", "http://127.0.0.1:port/", "http://[::1/x"]
)
async def test_a_url_that_cannot_be_requested_is_an_invalid_url_error(url: str) -> None:
    client = http.Client(connections=1, timeout=5)
    with pytest.raises(http.InvalidURL):
        await client.post(url, b"")
    assert client.pools == 0


async def test_a_pool_idle_for_idle_s_is_closed_by_the_next_request(server: Server) -> None:
    client = http.Client(connections=2, timeout=5, idle_s=5)
    await client.post(f"http://127.0.0.1:{server.port}/prefix/a", b"")
    await client.post(f"http://localhost:{server.port}/prefix/b", b"")  # another origin
    assert client.pools == 2
    first, second = client._pools.values()
    (idle,) = first._open
    # As if five seconds had passed since the first pool's request and the last sweep.
    first.used_at -= 5
    client._swept_at -= 5
    await client.post(f"http://localhost:{server.port}/prefix/c", b"")
    assert client.pools == 1 and list(client._pools.values()) == [second]
    assert idle.writer.transport.is_closing() and not first._open
    await client.post(f"http://127.0.0.1:{server.port}/prefix/d", b"")  # a fresh pool
    await client.aclose()
    assert client.pools == 0
    assert [r.path for r in server.requests] == [f"/prefix/{c}" for c in "abcd"]
    assert server.connections == 3


def test_a_response_text_is_decoded_by_its_charset() -> None:
    def answer(content_type: str, body: bytes) -> http.Response:
        return http.Response(200, {"content-type": content_type}, body, 0.0)

    assert answer("text/plain; charset=ISO-8859-1", "café".encode("latin-1")).text == "café"
    assert answer('text/plain; Charset="utf-8"', "中".encode()).text == "中"
    assert answer("application/json", "中".encode()).text == "中"  # UTF-8 by default
    assert answer("text/plain; charset=nonesuch", b"ok \xff").text == "ok \ufffd"
    assert not http.Response(302, {}, b"", 0.0).is_success


async def test_the_client_verifies_https_with_the_default_context(
    tls_server: tuple[Server, ssl.SSLContext],
) -> None:
    state, trusting = tls_server
    url = f"https://127.0.0.1:{state.port}/p/hook"
    default = http.Client(connections=1, timeout=5)
    with pytest.raises(http.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
        await default.post(url, b"{}")
    await default.aclose()
    client = http.Client(connections=1, timeout=5, ssl_context=trusting)
    answers = [await client.post(url, b"{}") for _ in range(2)]
    await client.aclose()
    assert [a.status_code for a in answers] == [202, 202]
    assert [r.path for r in state.requests] == ["/p/hook", "/p/hook"]
    assert state.connections == 1  # both on one connection; the refused one never got in


async def test_the_client_makes_one_default_tls_context_for_all_its_pools(
    tls_server: tuple[Server, ssl.SSLContext],
) -> None:
    state, _ = tls_server
    client = http.Client(connections=1, timeout=5)
    for host in ("127.0.0.1", "localhost"):
        with pytest.raises(http.ConnectError):  # the self-signed certificate is not trusted
            await client.post(f"https://{host}:{state.port}/p/hook", b"{}")
    first, second = client._pools.values()
    assert first._ssl is second._ssl is not None
    assert first._ssl.verify_mode == ssl.CERT_REQUIRED and first._ssl.check_hostname
    await client.aclose()
