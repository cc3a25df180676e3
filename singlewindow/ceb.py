"""`singlewindow ceb send`: send CEB messages (files or a bundled sample set), print receipts."""

from __future__ import annotations

import time
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Annotated

import httpx
import typer
from rich.table import Table

from gateway.ceb.codes import NS
from gateway.ceb.parse import decode
from gateway.ceb.sampleset import SETS, load
from singlewindow.console import console, gateway_client

ceb_app = typer.Typer(help="The CEB door: real CEB XML messages in, CEB receipts out.")
C = f"{{{NS}}}"
LISTS = ("CEB621", "CEB603")
FINAL = {"899", "100", "700"}  # a list's last receipt (or a detention 501-599)


def rows(answer: bytes) -> list[dict[str, str]]:
    """The receipts of an answer (a receipt message or a `ceb:Receipts` of them) as rows."""
    root = ET.fromstring(decode(answer))
    messages = [root] if root.tag.endswith("Message") else list(root)
    found = []
    for message in messages:
        name = message.tag.removeprefix(C).removesuffix("Message")
        for one in message:
            fields = {c.tag.removeprefix(C): c.text or "" for c in one}
            found.append({"message": name, **fields})
    return found


def _table(title: str, receipts: list[dict[str, str]]) -> Table:
    table = Table(title=title, title_justify="left")
    for column in ("message", "guid", "returnStatus", "returnTime", "returnInfo"):
        table.add_column(column, overflow="fold")
    for r in receipts:
        guid = r.get("guid") or r.get("oriCopMsgId", "")
        table.add_row(r["message"], guid, r.get("returnStatus", ""), r.get("returnTime", ""),
                      r.get("returnInfo", ""))  # fmt: skip
    return table


def _final(status: str) -> bool:
    return status in FINAL or (status.startswith("5") and status != "500")


def _follow(client: httpx.Client, guid: str, timeout_s: float) -> list[dict[str, str]]:
    """A list's receipts until its last one (899, 100, a detention) or the time is up."""
    deadline = time.monotonic() + timeout_s
    got: list[dict[str, str]] = []
    while time.monotonic() < deadline:
        resp = client.get(f"/v1/ceb/receipts/{guid}")
        got = rows(resp.content) if resp.status_code == 200 else []
        if any(_final(r["returnStatus"]) for r in got if r["message"] != "CEB816"):
            return got
        time.sleep(0.5)  # polling pace, as a transfer client downloads
    return got


@ceb_app.command()
def send(
    files: Annotated[list[Path] | None, typer.Argument(help="CEB XML files, sent in order")] = None,
    samples: Annotated[
        str | None, typer.Option(help=f"send a bundled sample set: {' or '.join(SETS)}")
    ] = None,
    new: Annotated[
        bool, typer.Option("--fresh/--as-is", help="samples: new guids and numbers each run")
    ] = True,
    wait: Annotated[float, typer.Option(help="seconds to follow each list's receipts")] = 60.0,
    xml: Annotated[bool, typer.Option(help="print each answer's XML as well")] = False,
    gateway: Annotated[str | None, typer.Option("--gateway", help="gateway URL")] = None,
    api_key: Annotated[str | None, typer.Option("--api-key", help="API key")] = None,
) -> None:
    """Send CEB messages to POST /v1/ceb/messages and print their receipts; a list's later
    receipts (up to 899, and the CEB816) are followed from the mailbox."""
    if samples is not None and samples not in SETS:
        raise typer.BadParameter(f"--samples takes {' or '.join(SETS)}")
    messages = [(str(p), p.read_bytes()) for p in files or []]
    if samples:
        messages += load(samples, new=new)
    if not messages:
        raise typer.BadParameter("name files or --samples")
    lists: list[str] = []
    with gateway_client(gateway, api_key) as client:
        for name, body in messages:
            resp = client.post(
                "/v1/ceb/messages", content=body, headers={"Content-Type": "application/xml"}
            )
            if not resp.headers.get("content-type", "").startswith("application/xml"):
                console.print(f"[red]{name}: HTTP {resp.status_code}[/red] {resp.text}")
                raise typer.Exit(1)
            receipts = rows(resp.content)
            console.print(_table(f"{name}: HTTP {resp.status_code}", receipts))
            if xml:
                console.print(resp.content.decode(errors="replace"), markup=False)
            lists += [r["guid"] for r in receipts if r["message"] in ("CEB622", "CEB604")
                      and r["returnStatus"] == "2"]  # fmt: skip
        for guid in lists if wait > 0 else []:
            console.print(_table(f"list {guid}: receipts so far", _follow(client, guid, wait)))
