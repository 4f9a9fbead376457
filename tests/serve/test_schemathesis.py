"""Property-based API test: schemathesis generates requests from the OpenAPI document; none may get a 5xx.

Every operation in ``/openapi.json`` is exercised with generated inputs (random bytes as images, odd strings as
names, out-of-range numbers), against the real models and a temporary gallery, with keys off so the generated
requests reach the handlers. 25 examples per operation; ``EMOLENS_SCHEMATHESIS_EXAMPLES`` raises that. The check is
schemathesis's own ``not_a_server_error``, plus our contract that every error body is one line of JSON under
``error``.
"""

from __future__ import annotations

import os

import pytest

pytest.importorskip("fastapi")
schemathesis = pytest.importorskip("schemathesis")
from hypothesis import HealthCheck, settings  # noqa: E402
from schemathesis.checks import not_a_server_error  # noqa: E402

from emolens.serve.app import ServeConfig, create_app  # noqa: E402


def _app():
    import atexit
    import shutil
    import tempfile
    from pathlib import Path

    d = Path(tempfile.mkdtemp(prefix="emolens-schemathesis-"))  # the schema is loaded at import, before fixtures
    atexit.register(shutil.rmtree, d, ignore_errors=True)
    return create_app(ServeConfig(gallery=d / "g.db", keys=d / "keys.db", require_keys=False, rate_per_minute=10**6))


schema = schemathesis.openapi.from_asgi("/openapi.json", _app())


@schema.parametrize()
@settings(
    max_examples=int(os.environ.get("EMOLENS_SCHEMATHESIS_EXAMPLES", "25")),
    deadline=None,
    suppress_health_check=list(HealthCheck),
)
def test_no_server_errors(case) -> None:
    response = case.call()
    case.validate_response(response, checks=[not_a_server_error])
    if response.status_code >= 400:
        body = response.json()
        assert set(body) == {"error"}, body
        assert "\n" not in body["error"] and "Traceback" not in body["error"]
