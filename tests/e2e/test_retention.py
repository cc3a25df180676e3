"""Retention and topic generations on a running system with short settings: purged
declarations answer 410, and the databases and the embedded broker's memory level off while
load goes on."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from schemas.ids import uuid7
from schemas.samples import sample_declaration
from singlewindow.resources.gauge import Gauge
from singlewindow.spawn import spawn_system
from tests.e2e.conftest import TERMINAL, System
from tests.support import wait_for

RETENTION_S = 12.0
GENERATION_S = 10.0
DAY = 86400.0
SERVICES = ("gateway", "customs", "forex", "tax")


@pytest.fixture(scope="module")
def short(tmp_path_factory: pytest.TempPathFactory) -> Iterator[System]:
    data_dir = tmp_path_factory.mktemp("retention")
    extra = {
        "SW_RETENTION_DAYS": f"{RETENTION_S / DAY:.8f}",
        "SW_INBOX_WINDOW_DAYS": f"{RETENTION_S / DAY:.8f}",
        "SW_RETENTION_EVERY_S": "1",
        "SW_TOPIC_GENERATION_S": str(GENERATION_S),
    }
    with spawn_system(data_dir, extra_env=extra) as spawned:
        yield System(spawned.proc, spawned.port_base, spawned.broker, data_dir, GENERATION_S)


def test_a_purged_declaration_answers_410_and_an_unknown_one_404(short: System) -> None:
    with short.client() as client:
        created = client.post("/v1/declarations", json=sample_declaration()).json()
        ended = short.wait_terminal(client, created["id"])
        assert ended["status"] == "completed"

        def gone() -> httpx.Response | None:
            answer = client.get(f"/v1/declarations/{created['id']}")
            return answer if answer.status_code == 410 else None

        answer = wait_for(gone, timeout_s=RETENTION_S * 5, what="the declaration to be purged")
        assert answer.headers["content-type"].startswith("application/problem+json")
        problem = answer.json()
        assert problem["type"].endswith("/gone") and created["id"] in problem["detail"]
        assert "SW_RETENTION_DAYS" in problem["detail"]
        assert client.get(f"/v1/declarations/{created['id']}/events").status_code == 410
        # An id made just now that was never a declaration is a plain 404: nothing was purged.
        assert client.get(f"/v1/declarations/{uuid7()}").status_code == 404


def _rows(path: Path) -> dict[str, int]:
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30) as conn:
        return {
            table: int(conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0])
            for table in ("records", "journal", "inbox")
        }


def _bytes(path: Path) -> int:
    wal = path.with_name(path.name + "-wal")
    return path.stat().st_size + (wal.stat().st_size if wal.exists() else 0)


def test_the_databases_and_the_broker_level_off_while_load_goes_on(short: System) -> None:
    """20 declarations a second for 60 s (1,200 in all) against 12 s of retention: each
    database should hold about 20 × (12 s + the flow + a purge period) declarations, however
    long the load runs. Row counts and file sizes are sampled at 30 s (after warm-up) and at
    the end: the end may not hold much more than the middle, and far fewer than were sent.
    The broker keeps about 1.5 generations of 10 s, so its memory levels off too; and every
    declaration still completes."""
    paths = {s: short.data_dir / f"{s}.db" for s in SERVICES}
    gauge = Gauge.of_supervisor(short.proc.pid, short.data_dir)
    broker: list[tuple[float, int]] = []
    ids: list[str] = []
    samples: list[tuple[float, dict[str, dict[str, int]], dict[str, int]]] = []
    sent = 0
    with short.client() as client:
        start = time.monotonic()
        next_at = start
        while (elapsed := time.monotonic() - start) < 60:
            batch = {"declarations": [sample_declaration() for _ in range(10)]}
            answer = client.post("/v1/declarations/batch", json=batch)
            assert answer.status_code == 202, answer.text
            ids += [d["id"] for d in answer.json()["data"]]
            sent += 10
            if not samples or elapsed - samples[-1][0] >= 5:
                rows = {s: _rows(p) for s, p in paths.items()}
                samples.append((elapsed, rows, {s: _bytes(p) for s, p in paths.items()}))
                broker.append((elapsed, gauge.sample(elapsed).rss["broker"]))
            next_at += 0.5
            time.sleep(max(0.0, next_at - time.monotonic()))  # the load's pace, 10 per 0.5 s
    middle = next(s for s in samples if s[0] >= 30)
    end = samples[-1]
    assert sent >= 1000
    for service in SERVICES:
        for table in ("records", "journal", "inbox"):
            at_middle, at_end = middle[1][service][table], end[1][service][table]
            assert at_end <= at_middle * 1.5 + 100, (service, table, samples)
        # Far fewer records held than declarations sent: the rest were purged.
        assert end[1][service]["records"] < sent / 2, (service, samples)
        # Freed pages are reused: the file grows little once purging has started.
        assert end[2][service] <= middle[2][service] * 1.5 + 4_000_000, (service, samples)
    # The broker: what it held at 30 s it holds at the end, give or take a generation (it
    # would have grown by some 30 KB a declaration, 18 MB over the second half, unbounded).
    at_middle = max(rss for t, rss in broker if 25 <= t <= 35)
    assert max(rss for t, rss in broker if t >= 35) <= at_middle + 8_000_000, broker
    # Nothing was lost on the way: every declaration ended (410: purged, having ended).
    with short.client() as client:

        def all_ended() -> bool:
            for declaration_id in ids:
                answer = client.get(f"/v1/declarations/{declaration_id}")
                assert answer.status_code in (200, 410), answer.text
                if answer.status_code == 200 and answer.json()["status"] not in TERMINAL:
                    return False
            return True

        wait_for(all_ended, timeout_s=60, what="every declaration to end", every_s=1)
