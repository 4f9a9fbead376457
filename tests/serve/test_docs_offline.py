"""``/docs`` (Swagger UI) and ``/redoc`` render with the network off, in headless Chromium.

Chromium (Debian's ``/usr/bin/chromium``, driven by Playwright) resolves no host but 127.0.0.1 and every request
to another host is aborted and recorded, so a page that still reached for a CDN would stay blank and fail here.
Each page must build its operation list in the DOM, log no script error or CSP violation, and give a screenshot
that is not blank. Screenshots go to ``$EMOLENS_ARTIFACTS`` or ``<repo>/test-artifacts``.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import cv2
import numpy as np
import pytest

CHROMIUM = "/usr/bin/chromium"
REPO = Path(__file__).resolve().parents[2]

if not Path(CHROMIUM).exists():
    pytest.skip(f"{CHROMIUM} not found (Debian: apt-get install chromium)", allow_module_level=True)
sync_api = pytest.importorskip("playwright.sync_api", reason="playwright not installed (pip install playwright)")
pytest.importorskip("fastapi")
from fastapi.testclient import TestClient  # noqa: E402

from emolens.serve.app import ServeConfig, create_app  # noqa: E402

OPERATIONS = 9  # the API's operations in /openapi.json (the WebSockets are not in it)


@pytest.fixture(scope="module")
def server(tmp_path_factory, serve_in_thread) -> Iterator[str]:
    d = tmp_path_factory.mktemp("docs")
    with serve_in_thread(ServeConfig(gallery=d / "gallery.db", keys=d / "keys.db", require_keys=False)) as url:
        yield url


def _not_blank(png: bytes) -> float:
    """The share of pixels that differ from the page's most common colour (0 for a blank page)."""
    image = cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_GRAYSCALE)
    values, counts = np.unique(image, return_counts=True)
    background = values[np.argmax(counts)]
    return float(np.mean(np.abs(image.astype(int) - int(background)) > 24))


def _open_offline(server: str, path: str, ready_js: str, shot: str) -> tuple[dict, list[str], list[str]]:
    """Load ``path`` with every other host unreachable; the page's DOM facts, the requests to other hosts, and
    the console errors (script errors, CSP violations)."""
    outside: list[str] = []
    errors: list[str] = []
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=["--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1", "--no-proxy-server"],
        )
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})

            def route(r) -> None:
                if urlsplit(r.request.url).hostname in ("127.0.0.1", None) or r.request.url.startswith("data:"):
                    r.continue_()
                else:
                    outside.append(r.request.url)
                    r.abort()

            page.route("**/*", route)
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto(server + path, wait_until="load")
            page.wait_for_function(ready_js, timeout=60_000)
            facts = page.evaluate(
                "() => ({text: document.body.innerText,"
                " opblocks: document.querySelectorAll('.opblock').length,"
                " scripts: [...document.scripts].map(s => s.src)})"
            )
            png = page.screenshot(full_page=False)
        finally:
            browser.close()
    out = Path(os.environ.get("EMOLENS_ARTIFACTS") or REPO / "test-artifacts")
    out.mkdir(parents=True, exist_ok=True)
    (out / shot).write_bytes(png)
    facts["inked"] = _not_blank(png)
    return facts, outside, errors


def test_swagger_ui_renders_offline(server):
    facts, outside, errors = _open_offline(
        server, "/docs", f"() => document.querySelectorAll('.opblock').length >= {OPERATIONS}", "docs-offline.png"
    )
    assert not outside, outside
    assert not errors, errors
    assert facts["opblocks"] >= OPERATIONS
    assert "/v1/analyze" in facts["text"] and "/v1/people" in facts["text"]
    assert all(s.startswith(server + "/docs/assets/") for s in facts["scripts"] if s), facts["scripts"]
    assert facts["inked"] > 0.02, facts["inked"]  # text and coloured operation bars, not a white page


def test_redoc_renders_offline(server):
    facts, outside, errors = _open_offline(
        server, "/redoc", "() => document.body.innerText.includes('/v1/analyze')", "redoc-offline.png"
    )
    assert not outside, outside
    # ReDoc's bundle shows a "by Redocly" logo from its CDN; the page's policy blocks it (nothing leaves the
    # machine) and the page is whole without it. Any other error fails.
    errors = [e for e in errors if not re.search(r"image 'https://cdn\.redoc\.ly/\S+' violates .*img-src", e)]
    assert not errors, errors
    assert "/v1/people" in facts["text"] and "/v1/verify" in facts["text"]
    assert facts["inked"] > 0.02, facts["inked"]


def test_docs_pages_load_nothing_from_other_hosts_and_allow_only_their_own_scripts(tmp_path):
    client = TestClient(create_app(ServeConfig(gallery=tmp_path / "g.db", keys=tmp_path / "k.db", require_keys=False)))
    for path in ("/docs", "/redoc"):
        r = client.get(path)
        assert r.status_code == 200
        assert not re.findall(r"https?://", r.text), path  # no CDN, no Google Fonts
        csp = r.headers["content-security-policy"]
        assert "cdn" not in csp and "https:" not in csp and "default-src 'none'" in csp, csp
        script_src = csp.split("script-src", 1)[1].split(";")[0]
        assert "'unsafe-inline'" not in script_src, csp  # no inline script but by its hash
    assert "'unsafe-inline'" not in client.get("/docs").headers["content-security-policy"]
    for name, ctype in (("swagger-ui-bundle.js", "text/javascript"), ("swagger-ui.css", "text/css")):
        r = client.get(f"/docs/assets/{name}")
        assert r.status_code == 200 and r.headers["content-type"].startswith(ctype) and len(r.content) > 100_000
    assert client.get("/docs/assets/..%2Fapp.py").status_code == 404
    assert client.get("/docs/assets/core.py").status_code == 404
    # /docs is counted under its own route in /metrics, not as "unmatched".
    text = client.get("/metrics").text
    assert 'emolens_requests_total{route="/docs",status="200"}' in text
    assert 'emolens_requests_total{route="/docs/assets/{name}",status="200"}' in text
    assert 'route="unmatched",status="200"' not in text
