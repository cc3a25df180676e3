"""A trader's integration with the single window, in one file: submit, then wait for the end
two ways (a signed webhook, and polling), verifying every webhook's signature.

    python examples/client.py            # against `make run` on this machine

Settings (environment): SINGLEWINDOW_URL (default http://127.0.0.1:8000) and
SINGLEWINDOW_API_KEY (default the sandbox's demo key). It needs only httpx and the standard
library; nothing here imports the simulator's code.

The receiver is a tiny HTTP server this script runs on 127.0.0.1 for the gateway to call. A
real one would sit behind your HTTPS address; the checks are the same:
  1. read the raw body (verify the bytes as they came, before parsing JSON);
  2. take t and v1 from the SW-Signature header; compute HMAC-SHA256(secret, f"{t}." + body);
     compare in constant time; refuse a t more than 5 minutes from now (a replay);
  3. answer 2xx quickly; anything else (or no answer within the gateway's timeout) is retried
     with backoff, so the same event can come more than once: deduplicate on the event id;
  4. events of one declaration may arrive out of order after a retry: order them by `created`.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import queue
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx

BASE_URL = os.environ.get("SINGLEWINDOW_URL", "http://127.0.0.1:8000")
API_KEY = os.environ.get("SINGLEWINDOW_API_KEY", "sk_test_singlewindow_demo")
TOLERANCE_S = 300
ENDS = {"completed", "rejected", "failed", "cancelled"}


def example_declaration(api: httpx.Client) -> dict[str, Any]:
    """The declaration the API documents as its example (its OpenAPI document): smartphones out
    to Germany, general trade."""
    doc = api.get("/openapi.json").raise_for_status().json()
    example: dict[str, Any] = doc["components"]["schemas"]["DeclarationRequest"]["examples"][0]
    return example


class BadSignature(Exception):
    """A webhook request not signed with our secret, or too old."""


def verify_signature(secret: str, header: str | None, body: bytes, now: float) -> int:
    """Check an SW-Signature header (t=<unix>,v1=<hex>) against the raw body; return t."""
    if not header:
        raise BadSignature("no SW-Signature header")
    fields: dict[str, list[str]] = {}
    for part in header.split(","):
        name, _, value = part.strip().partition("=")
        fields.setdefault(name, []).append(value)
    try:
        timestamp = int(fields["t"][0])
        candidates = fields["v1"]
    except (KeyError, ValueError) as exc:
        raise BadSignature(f"malformed SW-Signature header: {header!r}") from exc
    signed = f"{timestamp}.".encode() + body
    expected = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    if not any(hmac.compare_digest(expected, c) for c in candidates):
        raise BadSignature("signature does not match")
    if abs(now - timestamp) > TOLERANCE_S:
        raise BadSignature(f"timestamp {timestamp} too far from now")
    return timestamp


class Server(ThreadingHTTPServer):
    """A threaded HTTP server with room for the gateway's parallel requests in its backlog."""

    request_queue_size = 128
    daemon_threads = True


class Receiver:
    """Receives webhooks: verifies, deduplicates on the event id, queues each event once."""

    def __init__(self) -> None:
        self.secret = ""  # set once the endpoint is registered
        self.events: queue.Queue[dict[str, Any]] = queue.Queue()
        self.seen: set[str] = set()
        self.verified = 0
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                try:
                    verify_signature(
                        receiver.secret, self.headers.get("SW-Signature"), body, time.time()
                    )
                except BadSignature as exc:
                    print(f"  refused a webhook: {exc}", flush=True)
                    self.send_response(400)
                    self.end_headers()
                    return
                event = json.loads(body)
                with receiver.lock:
                    receiver.verified += 1
                    fresh = event["id"] not in receiver.seen
                    receiver.seen.add(event["id"])
                if fresh:
                    receiver.events.put(event)
                self.send_response(204)  # answer at once; do the work elsewhere
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = Server(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/webhooks/singlewindow"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def wait_for_end(self, declaration_id: str, timeout_s: float) -> dict[str, Any]:
        """The event that ends the declaration (its last status), as the webhook brought it."""
        deadline = time.monotonic() + timeout_s
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"no final webhook for {declaration_id} in {timeout_s}s")
            try:
                event = self.events.get(timeout=left)
            except queue.Empty:
                continue
            if event["declaration_id"] != declaration_id:
                continue
            print(f"  webhook {event['type']:<26} state={event['data']['state']}", flush=True)
            if event["data"]["status"] in ENDS:
                return event

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def poll_until_end(api: httpx.Client, declaration_id: str, timeout_s: float) -> dict[str, Any]:
    """GET the declaration until it ends, backing off from 0.2 s to 2 s between reads."""
    deadline = time.monotonic() + timeout_s
    pause = 0.2
    while True:
        view = api.get(f"/v1/declarations/{declaration_id}").raise_for_status().json()
        if view["status"] in ENDS:
            return dict(view)
        if time.monotonic() > deadline:
            raise TimeoutError(f"{declaration_id} still {view['status']} after {timeout_s}s")
        time.sleep(pause)  # polling interval, growing
        pause = min(pause * 2, 2.0)


def show_signature_check() -> None:
    """Verify a signature made here, and refuse the same body tampered with."""
    secret, t, body = "whsec_example", int(time.time()), b'{"id":"evt_example"}'
    v1 = hmac.new(secret.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    header = f"t={t},v1={v1}"
    verify_signature(secret, header, body, time.time())
    try:
        verify_signature(secret, header, body.replace(b"example", b"forged"), time.time())
    except BadSignature:
        print("signature check: a tampered body is refused", flush=True)
    else:
        raise AssertionError("a tampered body passed")


def main() -> int:
    show_signature_check()
    receiver = Receiver()
    headers = {"Authorization": f"Bearer {API_KEY}"}
    with httpx.Client(base_url=BASE_URL, headers=headers, timeout=10) as api:
        endpoint = (
            api.post(
                "/v1/webhook_endpoints",
                json={"url": receiver.url, "enabled_events": ["*"], "description": "client.py"},
            )
            .raise_for_status()
            .json()
        )
        receiver.secret = endpoint["secret"]  # shown once: keep it in your secret store
        print(f"registered webhook endpoint {endpoint['id']} → {receiver.url}", flush=True)
        try:
            created = (
                api.post(
                    "/v1/declarations",
                    json=example_declaration(api),
                    headers={"Idempotency-Key": str(uuid.uuid4())},
                )
                .raise_for_status()
                .json()
            )
            declaration_id = created["id"]
            print(f"submitted {declaration_id}: {created['status']}", flush=True)

            final_event = receiver.wait_for_end(declaration_id, timeout_s=60)
            print(f"via webhook: {final_event['data']['status']}", flush=True)
            print(f"signature verified on {receiver.verified} webhook(s)", flush=True)

            view = poll_until_end(api, declaration_id, timeout_s=60)
            print(f"via polling: {view['status']}", flush=True)
            print(f"  figures: {json.dumps(view['figures'], ensure_ascii=False)}", flush=True)
            if view["status"] != final_event["data"]["status"]:
                print("webhook and polling disagree", file=sys.stderr)
                return 1

            log = api.get(
                "/v1/webhook_deliveries", params={"declaration_id": declaration_id}
            ).json()
            for delivery in log["data"]:
                codes = [a["status_code"] for a in delivery["log"]]
                print(f"  delivery {delivery['event_type']:<26} {delivery['status']} {codes}")
        finally:
            api.delete(f"/v1/webhook_endpoints/{endpoint['id']}")
            receiver.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
