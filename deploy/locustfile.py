"""Locust load for the single window gateway.

    pip install locust
    locust -f deploy/locustfile.py --host http://127.0.0.1:8000 --users 50 --spawn-rate 10

Locust measures the accept latency (POST → 202) and, with `SW_LOCUST_FOLLOW=1`, the
read-back of each declaration's status. For completion latency measured without polling
(from the status topic, free of coordinated omission), use `singlewindow load`.
"""

from __future__ import annotations

import os
import random

from locust import HttpUser, between, task

from schemas.samples import sample_declaration

API_KEY = os.environ.get("SW_DEMO_API_KEY", "sk_test_singlewindow_demo")
FOLLOW = os.environ.get("SW_LOCUST_FOLLOW") == "1"
MIX = [
    ("export", "0110", 40),
    ("export", "9610", 20),
    ("export", "9710", 10),
    ("export", "9810", 10),
    ("import", "0110", 10),
    ("import", "1210", 10),
]


class Trader(HttpUser):
    """Submits declarations of the default mix, now and then reading one back."""

    wait_time = between(0.05, 0.2)

    def on_start(self) -> None:
        self.client.headers["Authorization"] = f"Bearer {API_KEY}"

    @task
    def submit(self) -> None:
        direction, mode, _ = random.choices(MIX, weights=[w for *_, w in MIX])[0]
        with self.client.post(
            "/v1/declarations",
            json=sample_declaration(direction, mode),
            name="POST /v1/declarations",
            catch_response=True,
        ) as resp:
            if resp.status_code != 202:
                resp.failure(f"expected 202, got {resp.status_code}: {resp.text[:200]}")
                return
            declaration_id = resp.json()["id"]
        if FOLLOW:
            self.client.get(f"/v1/declarations/{declaration_id}", name="GET /v1/declarations/{id}")
