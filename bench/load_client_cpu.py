"""The load tool's own CPU per request: its former httpx path against its lean HTTP/1.1 pool.

    .venv/bin/python bench/load_client_cpu.py [--requests 2000] [--concurrency 16] [--rounds 3]

A uvicorn server in another process answers POST /v1/declarations with 202 and a small JSON
body, as the gateway does. This process sends the same declarations through each client in
turn, rounds interleaved, and prints the CPU time of this process (time.process_time())
per request: the CPU the load tool takes from the machine it measures.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import socket
import ssl
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import httpx

from services.common import http1 as http
from singlewindow.load.plan import MixEntry, body_for

APP = """
from fastapi import FastAPI
from fastapi.responses import JSONResponse
app = FastAPI()
n = 0
@app.post("/v1/declarations")
async def submit(body: dict) -> JSONResponse:
    global n
    n += 1
    return JSONResponse({"id": f"d-{n}", "status": "submitted"}, status_code=202)
"""

ENTRY = MixEntry("export", "0110", "happy", 1.0)
CONNECTIONS = 64  # the load tool's default --connections
POOL_CONNECTIONS = 4  # the former runner: httpx clients of 4 connections, taken in turn

Send = Callable[[dict[str, Any]], Awaitable[int]]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def drive(send: Send, requests: int, concurrency: int) -> float:
    """CPU seconds of this process per request, `concurrency` senders in a closed loop."""

    async def senders(bodies: list[dict[str, Any]]) -> None:
        it = iter(bodies)

        async def sender() -> None:
            for body in it:
                status = await send(body)
                assert status == 202, status

        await asyncio.gather(*(sender() for _ in range(concurrency)))

    await senders([body_for(ENTRY, f"warm-{i}") for i in range(concurrency * 4)])
    bodies = [body_for(ENTRY, f"cpu-{i}") for i in range(requests)]
    cpu = time.process_time()  # sending and answers only: the bodies are made already
    await senders(bodies)
    return (time.process_time() - cpu) / requests


async def with_httpx(url: str, requests: int, concurrency: int) -> float:
    """The runner's former path: small httpx pools taken in turn, a semaphore of connections."""
    limits = httpx.Limits(max_connections=POOL_CONNECTIONS, max_keepalive_connections=4)
    tls = ssl.create_default_context()
    clients = [
        httpx.AsyncClient(
            base_url=url, verify=tls, limits=limits, timeout=30, headers={"Authorization": "B"}
        )
        for _ in range(CONNECTIONS // POOL_CONNECTIONS)
    ]
    slots = asyncio.Semaphore(CONNECTIONS)
    turn = iter(range(10**9))

    async def send(body: dict[str, Any]) -> int:
        client = clients[next(turn) % len(clients)]
        async with slots:
            resp = await client.post("/v1/declarations", json=body)
        resp.json()
        return resp.status_code

    try:
        return await drive(send, requests, concurrency)
    finally:
        for client in clients:
            await client.aclose()


async def with_lean(url: str, requests: int, concurrency: int) -> float:
    pool = http.Pool(url, connections=CONNECTIONS, timeout=30, headers={"Authorization": "B"})

    async def send(body: dict[str, Any]) -> int:
        resp = await pool.post_json("/v1/declarations", body)
        resp.json()
        return resp.status_code

    try:
        return await drive(send, requests, concurrency)
    finally:
        await pool.aclose()


@contextlib.contextmanager
def uvicorn_serving(app_source: str) -> Iterator[str]:
    """Run `app` of this source under uvicorn in another process; yields its base URL."""
    port = free_port()
    server = subprocess.Popen(
        [
            sys.executable,
            "-c",
            f"{app_source}\nimport uvicorn\nuvicorn.run(app, port={port}, log_level='warning')",
        ]
    )
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise SystemExit("the server did not start") from None
                time.sleep(0.05)  # polling the port until it accepts
        yield f"http://127.0.0.1:{port}"
    finally:
        server.terminate()
        server.wait(10)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    with uvicorn_serving(APP) as url:
        results: dict[str, list[float]] = {"httpx (former)": [], "lean pool": []}
        for _ in range(args.rounds):
            results["httpx (former)"].append(
                asyncio.run(with_httpx(url, args.requests, args.concurrency))
            )
            results["lean pool"].append(
                asyncio.run(with_lean(url, args.requests, args.concurrency))
            )
        print(
            f"{args.requests} POSTs per round, {args.concurrency} in flight, "
            f"{CONNECTIONS} connections, {args.rounds} rounds interleaved"
        )
        for name, values in results.items():
            rounds = " ".join(f"{v * 1000:.3f}" for v in values)
            print(
                f"{name:15} CPU per request: median {statistics.median(values) * 1000:.3f} ms"
                f"  (rounds: {rounds})"
            )
        ratio = statistics.median(results["httpx (former)"]) / statistics.median(
            results["lean pool"]
        )
        print(f"ratio httpx / lean: {ratio:.1f}×")


if __name__ == "__main__":
    main()
