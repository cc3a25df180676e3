"""The CEB door against the real processes: real XML in, real receipts out, the same saga."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import os
import subprocess
import sys
import threading
import uuid
import xml.etree.ElementTree as ET
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar

import httpx

from gateway.ceb.codes import NS
from gateway.ceb.sampleset import fresh, load, paths
from tests.e2e.conftest import System
from tests.support import wait_for

XML = {"Content-Type": "application/xml"}
C = f"{{{NS}}}"


def send(client: httpx.Client, body: bytes, status: int = 200) -> ET.Element:
    resp = client.post("/v1/ceb/messages", content=body, headers=XML)
    assert resp.status_code == status, resp.text
    assert resp.headers["content-type"].startswith("application/xml")
    return ET.fromstring(resp.content)


def returns(root: ET.Element) -> list[dict[str, str]]:
    """Every `…Return` of an answer, as fields (with the receipt message it came in)."""
    messages = [root] if root.tag.endswith("Message") else list(root)
    found = []
    for message in messages:
        for one in message:
            fields = {c.tag.removeprefix(C): c.text or "" for c in one}
            fields["message"] = message.tag.removeprefix(C).removesuffix("Message")
            found.append(fields)
    return found


def doc_guid(body: bytes) -> str:
    root = ET.fromstring(body)
    return root.find(f".//{C}guid").text  # type: ignore[union-attr,return-value]


def mailbox(client: httpx.Client, guid: str) -> list[dict[str, str]]:
    resp = client.get(f"/v1/ceb/receipts/{guid}")
    if resp.status_code == 404:
        return []
    assert resp.status_code == 200, resp.text
    return returns(ET.fromstring(resp.content))


def wait_status(
    client: httpx.Client, guid: str, message: str, status: str, timeout_s: float = 40
) -> list[dict[str, str]]:
    def probe() -> list[dict[str, str]] | None:
        got = mailbox(client, guid)
        hit = any(r["message"] == message and r["returnStatus"] == status for r in got)
        return got if hit else None

    return wait_for(probe, timeout_s=timeout_s, what=f"{message} {status} for {guid}")


def statuses(receipts: list[dict[str, str]], message: str) -> list[str]:
    return [r["returnStatus"] for r in receipts if r["message"] == message]


def _import_set(tag: str | None = None, **changes: tuple[bytes, bytes]) -> list[tuple[str, bytes]]:
    """The import samples made fresh, with `changes` (file prefix → (old, new)) applied
    before: the business numbers end in `tag`."""
    out = []
    for name, body in load("import", new=False):
        for prefix, (old, new) in changes.items():
            if name.startswith(prefix.replace("_", "-")):
                assert old in body
                body = body.replace(old, new)
        out.append((name, body))
    fresh_bodies = fresh([b for _, b in out], tag or uuid.uuid4().hex[:8].upper())
    return [(name, body) for (name, _), body in zip(out, fresh_bodies, strict=True)]


def test_whole_9610_import_from_order_to_closure(system: System) -> None:
    """311 → 411 → 511 → 621: the supporting documents answered 2 then 120 at once; the list
    2 at once, then 120 → 399 → 800 → 899 from the saga, and the CEB816 tax bill. The same
    declaration is in the JSON API with its three documents."""
    messages = _import_set()
    with system.client() as client:
        for name, body in messages[:3]:
            got = returns(send(client, body))
            assert [r["returnStatus"] for r in got] == ["2", "120"], (name, got)
            assert got[0]["guid"] == doc_guid(body)
        listed = returns(send(client, messages[3][1]))
        assert [(r["message"], r["returnStatus"]) for r in listed] == [("CEB622", "2")]
        guid = doc_guid(messages[3][1])
        done = wait_status(client, guid, "CEB622", "899")
        assert statuses(done, "CEB622") == ["2", "120", "399", "800", "899"]
        tax = next(r for r in done if r["message"] == "CEB816")
        # 3,000.00 of infant formula: duty 0, VAT 13% × 70% = 273.00 (D§5.2's worked example)
        assert (tax["customsTax"], tax["valueAddedTax"], tax["taxTotal"]) == (
            "0.00", "273.00", "273.00",
        )  # fmt: skip
        last = next(r for r in done if r["returnStatus"] == "899")
        assert last["invtNo"][4:9].endswith("I") and len(last["returnTime"]) == 17
        declaration_id = listed[0]["returnInfo"].split("declaration ")[1].rstrip("]")
        view = client.get(f"/v1/declarations/{declaration_id}").json()
        assert view["status"] == "completed" and view["customs_status"] == "899"
        assert view["declaration"]["trade_mode"] == "9610"
        assert view["declaration"]["cbec"]["amount_paid"] == "3293.00"
        timeline = client.get(f"/v1/declarations/{declaration_id}/events").json()["data"]
        types = [e["type"] for e in timeline]
        assert types[0] == "declaration.submitted" and "tax.import.collected" in types
        # the mailbox lists them too, after a cursor, each once
        page = client.get("/v1/ceb/receipts", params={"after": 0, "limit": 500}).json()
        mine = [r for r in page["data"] if r["ori_guid"] == guid]
        assert {r["declaration_id"] for r in mine} == {declaration_id}  # guid ↔ declaration
        assert [r["return_status"] for r in mine if r["message"] == "CEB622"] == statuses(
            done, "CEB622"
        )
        later = client.get("/v1/ceb/receipts", params={"after": page["cursor"]}).json()
        assert all(r["seq"] > page["cursor"] for r in later["data"])


def test_sending_a_document_again_changes_nothing(system: System) -> None:
    """The same guid again is answered with the receipt already sent; no second document."""
    _, order = _import_set()[0]
    with system.client() as client:
        first = returns(send(client, order))
        again = returns(send(client, order))
        assert again == [first[-1]] and len(mailbox(client, doc_guid(order))) == 2


def test_a_draft_is_answered_1_and_filed_only_when_declared(system: System) -> None:
    _, order = _import_set()[0]
    draft = order.replace(b"<ceb:appStatus>2<", b"<ceb:appStatus>1<")
    with system.client() as client:
        assert [r["returnStatus"] for r in returns(send(client, draft))] == ["1"]
        assert [r["returnStatus"] for r in returns(send(client, order))] == ["2", "120"]


def test_whole_9610_export_from_order_to_summary(system: System) -> None:
    """303 → 403 → 505 → 603 → 507/509 → 604 up to 899, then 701 → 702 and 792."""
    messages = dict(load("export"))
    names = sorted(messages)
    with system.client() as client:
        for name in names[:3]:
            assert statuses(returns(send(client, messages[name])), name[-10:-4].replace(
                name[-7:-4], str(int(name[-7:-4]) + 1))) == ["2", "120"]  # fmt: skip
        listed = returns(send(client, messages[names[3]]))
        assert [(r["message"], r["returnStatus"]) for r in listed] == [("CEB604", "2")]
        for name in names[4:6]:  # arrival, departure
            got = returns(send(client, messages[name]))
            assert [r["returnStatus"] for r in got] == ["2", "120"], got
        guid = doc_guid(messages[names[3]])
        done = wait_status(client, guid, "CEB604", "899")
        assert statuses(done, "CEB604") == ["2", "120", "399", "800", "899"]
        declaration_id = listed[0]["returnInfo"].split("declaration ")[1].rstrip("]")
        system.wait_terminal(client, declaration_id, timeout_s=60)
        summary = returns(send(client, messages[names[6]]))
        assert [(r["message"], r["returnStatus"]) for r in summary] == [
            ("CEB702", "2"), ("CEB702", "399"), ("CEB792", "399"),
        ]  # fmt: skip
        result = summary[-1]
        view = client.get(f"/v1/declarations/{declaration_id}").json()
        assert view["entry_id"] in result["entryId"].split(",")
        assert result["sumNo"]


def _refusal(receipts: list[dict[str, Any]]) -> str:
    refused = [r for r in receipts if r["returnStatus"] == "100"]
    assert refused, receipts
    return refused[0]["returnInfo"]


def test_list_naming_an_order_not_on_file_is_refused_c305(system: System) -> None:
    messages = _import_set(import_4=(b"<ceb:orderNo>ORD", b"<ceb:orderNo>XXX"))
    with system.client() as client:
        for _, body in messages[:3]:
            send(client, body)
        info = _refusal(returns(send(client, messages[3][1])))
    assert "C305 orderNo:" in info and "cbec.three_documents.order" in info


def test_list_with_another_buyer_is_refused_c308(system: System) -> None:
    messages = _import_set(
        import_4=(b"<ceb:buyerName>\xe5\xbc\xa0\xe4\xb8\x89", "<ceb:buyerName>李四".encode())
    )
    with system.client() as client:
        for _, body in messages[:3]:
            send(client, body)
        info = _refusal(returns(send(client, messages[3][1])))
    assert "C308 buyerIdNumber:" in info and "cbec.three_documents.buyer" in info


def test_payment_of_another_amount_is_rejected_by_customs_c301(system: System) -> None:
    """The amounts are customs' check (as for JSON): the list is declared, customs rejects
    it, and the CEB622 100 names C301 and the rule; the declaration shows the same."""
    messages = _import_set(import_2=(b"<ceb:amountPaid>3293.00", b"<ceb:amountPaid>3000.00"))
    with system.client() as client:
        for _, body in messages:
            send(client, body)
        guid = doc_guid(messages[3][1])
        done = wait_status(client, guid, "CEB622", "100")
    info = _refusal(done)
    assert "C301 cbec.amount_paid:" in info and "cbec.three_documents.payment" in info


LAUGHS = (
    b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
    + b"".join(
        f'<!ENTITY lol{i} "{("&lol" + (str(i - 1) if i > 1 else "") + ";") * 10}">'.encode()
        for i in range(1, 10)
    )
    + f']><ceb:CEB311Message xmlns:ceb="{NS}" guid="G">&lol9;</ceb:CEB311Message>'.encode()
)
BAD = {
    "malformed": (b"<ceb:CEB311Message xmlns:ceb='x'><ceb:Order>", "xml.well_formed"),
    "namespace": (b"<CEB311Message xmlns='urn:not-ceb' guid='G'/>", "ceb.namespace"),
    "unknown type": (f"<ceb:CEB999Message xmlns:ceb='{NS}' guid='G'/>".encode(), "ceb.message_type"),
    "xxe": (
        b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
        + f'<ceb:CEB311Message xmlns:ceb="{NS}" guid="G">&x;</ceb:CEB311Message>'.encode(),
        "xml.dtd",
    ),
    "billion laughs": (LAUGHS, "xml.dtd"),
}  # fmt: skip


def test_unreadable_messages_are_answered_ceb900_and_the_gateway_carries_on(
    system: System,
) -> None:
    with system.client() as client:
        for what, (body, rule) in BAD.items():
            root = send(client, body, status=400)
            assert root.tag == f"{C}CEB900Message", what
            assert f"[rule {rule}]" in (root.findtext(f".//{C}returnInfo") or ""), what
            assert b"root:" not in ET.tostring(root)  # nothing of /etc/passwd came back
        assert client.post("/v1/ceb/messages", content=b"{}", headers={
            "Content-Type": "application/json"}).status_code == 415  # fmt: skip
        big = b"<a>" + b"x" * 1_100_000 + b"</a>"
        assert client.post("/v1/ceb/messages", content=big, headers=XML).status_code == 413
        # the worker is not hung: a good message is answered at once
        _, order = _import_set()[0]
        assert [r["returnStatus"] for r in returns(send(client, order))] == ["2", "120"]


def test_a_flood_at_50_a_second_is_answered_once_each(system: System) -> None:
    """300 orders sent at 50 a second (open loop, each its own guid): every one answered
    200 with its own 2 and 120, and the mailbox holds each receipt exactly once."""
    template = next(body for name, body in load("import", new=False) if "CEB311" in name)
    bodies = [fresh([template])[0] for _ in range(300)]
    guids = [doc_guid(b) for b in bodies]

    async def flood() -> list[httpx.Response]:
        async with httpx.AsyncClient(
            base_url=system.url("gateway"),
            timeout=30,
            headers={"Authorization": f"Bearer {system.api_key}", **XML},
        ) as client:
            start = asyncio.get_running_loop().time()

            async def one(i: int) -> httpx.Response:
                delay = start + i / 50 - asyncio.get_running_loop().time()
                await asyncio.sleep(max(0.0, delay))  # the send schedule, not a wait
                return await client.post("/v1/ceb/messages", content=bodies[i])

            return await asyncio.gather(*(one(i) for i in range(len(bodies))))

    with system.client() as client:
        before = client.get("/v1/ceb/receipts", params={"limit": 1}).json()
        cursor = _last_seq(client, before["cursor"])
        answers = asyncio.run(flood())
        assert [a.status_code for a in answers] == [200] * len(bodies)
        for guid, answer in zip(guids, answers, strict=True):
            got = returns(ET.fromstring(answer.content))
            assert [(r["guid"], r["returnStatus"]) for r in got] == [(guid, "2"), (guid, "120")]
        seen: list[tuple[str, str]] = []
        while True:
            page = client.get("/v1/ceb/receipts", params={"after": cursor, "limit": 500}).json()
            if not page["data"]:
                break
            seen.extend((r["ori_guid"], r["return_status"]) for r in page["data"])
            cursor = page["cursor"]
    mine = [s for s in seen if s[0] in set(guids)]
    assert sorted(mine) == sorted((g, s) for g in guids for s in ("2", "120"))


def _last_seq(client: httpx.Client, after: int) -> int:
    """The mailbox's last seq now (read to its end)."""
    while True:
        page = client.get("/v1/ceb/receipts", params={"after": after, "limit": 500}).json()
        if not page["data"]:
            return after
        after = page["cursor"]


def _one(which: str, tag: str) -> bytes:
    return fresh([paths(which)[0].read_bytes()], tag)[0]


def test_a_list_cancelled_before_release_ends_cancelled(system: System) -> None:
    """CEB623 while the list waits (a demo pace of 5 s a stage): CEB624 399, the declaration
    cancelled in the JSON API."""
    tag = uuid.uuid4().hex[:8].upper()
    messages = _import_set(tag, import_4=(b"SW-GREEN-I00001", b"SW-DELAY-5S-00001"))
    with system.client() as client:
        for _, body in messages:
            send(client, body)
        cancel = _one("cancel", tag).replace(b"SW-GREEN-I" + tag.encode(),
                                             b"SW-DELAY-5S-" + tag.encode())  # fmt: skip
        got = returns(send(client, cancel))
        assert [(r["message"], r["returnStatus"]) for r in got] == [
            ("CEB624", "2"), ("CEB624", "120"), ("CEB624", "399"),
        ], got  # fmt: skip
        guid = doc_guid(messages[3][1])
        listed = mailbox(client, guid)
        declaration_id = listed[0]["returnInfo"].split("declaration ")[1].rstrip("]")
        view = client.get(f"/v1/declarations/{declaration_id}").json()
        assert view["status"] == "cancelled" and "CEB623" in view["reason"]


def test_a_completed_import_returned_gets_its_tax_back(system: System) -> None:
    """CEB625 after closure: CEB626 2 and 120 at once, then 399 once tax refunds the 273.00."""
    tag = uuid.uuid4().hex[:8].upper()
    messages = _import_set(tag)
    with system.client() as client:
        for _, body in messages:
            send(client, body)
        guid = doc_guid(messages[3][1])
        wait_status(client, guid, "CEB622", "899")
        declaration_id = mailbox(client, guid)[0]["returnInfo"].split("declaration ")[1][:-1]
        system.wait_terminal(client, declaration_id)
        back = _one("return", tag)
        got = returns(send(client, back))
        assert [r["returnStatus"] for r in got] == ["2", "120"], got
        done = wait_status(client, doc_guid(back), "CEB626", "399")
    assert "tax refunded 273.00" in done[-1]["returnInfo"]


def test_the_cli_sends_the_import_samples_and_follows_the_list(system: System) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "singlewindow", "ceb", "send", "--samples", "import",
         "--gateway", system.url("gateway"), "--api-key", system.api_key, "--wait", "60"],
        capture_output=True, text=True, timeout=120, env={**os.environ, "COLUMNS": "250"},
    )  # fmt: skip
    assert out.returncode == 0, out.stdout + out.stderr
    for shown in ("CEB312", "CEB412", "CEB512", "CEB622", "CEB816", "899"):
        assert shown in out.stdout, out.stdout


class _Hooks(BaseHTTPRequestHandler):
    got: ClassVar[list[tuple[str, bytes]]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.got.append((self.headers["SW-Signature"], body))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *_: Any) -> None:
        pass


def test_a_ceb_receipt_webhook_carries_the_receipt_xml(system: System) -> None:
    """An endpoint subscribed to `ceb.receipt` gets the list's receipts, XML inside, signed."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Hooks)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/hooks"
    try:
        with system.client() as client:
            made = client.post(
                "/v1/webhook_endpoints", json={"url": url, "enabled_events": ["ceb.receipt"]}
            )
            assert made.status_code == 201, made.text
            secret = made.json()["secret"]
            messages = _import_set()
            for _, body in messages:
                send(client, body)
            guid = doc_guid(messages[3][1])

            def closed() -> dict[str, Any] | None:
                for header, body in list(_Hooks.got):
                    event = json.loads(body)
                    data = event["data"]
                    if data["ori_guid"] == guid and data["return_status"] == "899":
                        t, v1 = (p.split("=", 1)[1] for p in header.split(","))
                        mac = hmac.new(secret.encode(), f"{t}.".encode() + body, hashlib.sha256)
                        assert v1 == mac.hexdigest()
                        return event  # type: ignore[no-any-return]
                return None

            event = wait_for(closed, timeout_s=40, what="the CEB622 899 webhook")
            client.delete(f"/v1/webhook_endpoints/{made.json()['id']}")
    finally:
        server.shutdown()
    assert event["type"] == "ceb.receipt" and event["data"]["message"] == "CEB622"
    root = ET.fromstring(event["data"]["xml"].encode())
    assert root.tag == f"{C}CEB622Message"
    assert root.findtext(f".//{C}returnStatus") == "899"


def test_an_inspection_failure_is_answered_500_then_detained_501(system: System) -> None:
    """The sandbox's SW-INSPFAIL- copNo: the list is inspected (500), fails (I301) and is
    detained (501); the declaration ends `failed`."""
    messages = _import_set(import_4=(b"SW-GREEN-I00001", b"SW-INSPFAIL-00001"))
    with system.client() as client:
        for _, body in messages:
            send(client, body)
        done = wait_status(client, doc_guid(messages[3][1]), "CEB622", "501")
    assert statuses(done, "CEB622")[-2:] == ["500", "501"]


def test_a_gbk_message_is_answered_in_gbk(system: System) -> None:
    _, order = _import_set()[0]
    gbk = order.decode().replace('encoding="UTF-8"', 'encoding="GBK"').encode("gbk")
    with system.client() as client:
        resp = client.post("/v1/ceb/messages", content=gbk, headers=XML)
    assert resp.status_code == 200 and resp.content.startswith(
        b"<?xml version='1.0' encoding='gbk'"
    )
    text = resp.content.decode("gbk")
    assert "新增申报成功" in text
