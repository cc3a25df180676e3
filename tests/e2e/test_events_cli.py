"""`singlewindow events` against the running system: what passes on the topics, as it passes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import IO, Any

from schemas.samples import sample_declaration
from tests.e2e.conftest import System
from tests.support import wait_for


class Lines:
    """The lines a stream has written so far, read by a thread of their own."""

    def __init__(self, stream: IO[str]) -> None:
        self.lines: list[str] = []
        self._thread = threading.Thread(target=self._read, args=(stream,), daemon=True)
        self._thread.start()

    def _read(self, stream: IO[str]) -> None:
        for line in stream:
            self.lines.append(line.rstrip("\n"))

    def having(self, text: str) -> list[str]:
        return [line for line in list(self.lines) if text in line]


@contextmanager
def follower(system: System, *args: str) -> Iterator[tuple[subprocess.Popen[str], Lines]]:
    """`singlewindow events --follow …`, once it says it follows (everything after is seen)."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "singlewindow", "events", "--follow", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "SW_KAFKA_BOOTSTRAP": system.broker, "COLUMNS": "200"},
    )
    assert proc.stdout and proc.stderr
    out, notes = Lines(proc.stdout), Lines(proc.stderr)
    try:
        wait_for(
            lambda: notes.having("following"), timeout_s=30, what=f"it to follow {notes.lines}"
        )
        yield proc, out
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def submitted(system: System, scenario: str = "happy") -> tuple[str, list[dict[str, Any]]]:
    """A declaration run to its end, and its timeline as the API lists it."""
    with system.client() as client:
        created = client.post("/v1/declarations", json=sample_declaration(scenario=scenario))
        assert created.status_code == 202, created.text
        declaration_id = created.json()["id"]
        system.wait_terminal(client, declaration_id)
        timeline = client.get(f"/v1/declarations/{declaration_id}/events").json()["data"]
    return declaration_id, timeline


def test_follow_prints_the_status_and_tax_messages_of_a_declaration_as_they_pass(
    system: System,
) -> None:
    with follower(system, "--all", "-t", "declaration.*", "-t", "tax.*") as (proc, out):
        declaration_id, timeline = submitted(system)
        changes = [e["payload"] for e in timeline if e["type"] == "declaration.status.changed"]
        last = f"{changes[-1]['previous_state']} → completed"
        wait_for(
            lambda: [line for line in out.having(declaration_id) if line.endswith(last)],
            timeout_s=30,
            what="the completion to be printed",
        )
        proc.send_signal(signal.SIGINT)  # Ctrl-C: a clean stop
        assert proc.wait(timeout=30) == 0

    mine = out.having(declaration_id)
    # Every status change, in order, as the API's timeline lists them.
    said = [line.split(declaration_id, 1)[1].strip() for line in mine if " status " in line]
    assert said == [f"{c['status']}: {c['previous_state'] or '·'} → {c['state']}" for c in changes]
    # The tax agency's command and answer, with their direction; no other agency's.
    assert [line for line in mine if "→ tax" in line and "tax.refund.apply" in line]
    assert [line for line in mine if "← tax" in line and "tax.refund.paid" in line]
    others = ("customs.", "inspection.", "forex.")
    assert not [line for line in out.lines if any(f" {o}" in line for o in others)]


def test_events_without_follow_prints_what_the_topics_hold_for_one_declaration_and_exits(
    system: System,
) -> None:
    declaration_id, timeline = submitted(system, scenario="refund_denied")
    other, _ = submitted(system)
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "singlewindow",
            *("events", "--all", "--json", "-d", declaration_id[-12:]),
            *("--kafka", system.broker),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    envelopes = [json.loads(line) for line in done.stdout.splitlines()]
    assert {e["declaration_id"] for e in envelopes} == {declaration_id} != {other}
    # Every message the declaration's timeline lists went over a topic, but the submission
    # itself (the gateway's own record of the HTTP request).
    listed = {e["id"] for e in timeline if e["type"] != "declaration.submitted"}
    assert {e["id"] for e in envelopes} == listed
    assert "tax.refund.denied" in {e["type"] for e in envelopes}


def test_events_says_so_when_no_broker_answers() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "singlewindow", "events", "--kafka", "127.0.0.1:9"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1
    assert "no broker at 127.0.0.1:9" in done.stderr
    assert done.stdout == ""
