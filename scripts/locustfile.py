"""Locust load for ``emolens serve``: each user posts one 640x480 JPEG to /v1/analyze, back to back.

    locust -f scripts/locustfile.py --headless --host http://127.0.0.1:8000 -u 4 -r 4 -t 60s

The JPEG is ``$EMOLENS_LOCUST_JPEG`` (``scripts/bench_serve.py --locust`` writes a frame of a shared clip there).
Any answer other than 200 with exactly one face counts as a failure.
"""

from __future__ import annotations

import os
from pathlib import Path

from locust import HttpUser, task

JPEG = Path(os.environ["EMOLENS_LOCUST_JPEG"]).read_bytes()


class Analyst(HttpUser):
    @task
    def analyze(self) -> None:
        with self.client.post(
            "/v1/analyze", files={"image": ("frame.jpg", JPEG, "image/jpeg")}, catch_response=True
        ) as r:
            if r.status_code != 200:
                r.failure(f"status {r.status_code}: {r.text[:100]}")
            elif len(r.json().get("faces", [])) != 1:
                r.failure(f"expected one face, got {len(r.json().get('faces', []))}")
