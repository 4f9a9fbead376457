"""DP releases of the event log: the noise has the scale the ε says, each person's rows are bounded, and the
gallery's ledger composes queries and refuses the one over budget."""

from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np
import pytest

from emolens.errors import PrivacyBudgetError
from emolens.identity.store import SQLiteStore
from emolens.privacy.release import bound_contributions, epsilon_of, private_histogram, true_counts


def _rows(per_bin: int = 400) -> list[dict]:
    """Events of many people, one row each, ``per_bin`` in each of the first 3 emotions."""
    rows = []
    for i, emotion in enumerate(("angry", "happy", "sad")):
        for j in range(per_bin):
            rows.append({"id": len(rows) + 1, "time": 1e9 + j, "identity": f"p{i}-{j}", "emotion": emotion})
    return rows


def test_noise_scale_matches_epsilon() -> None:
    rows = _rows()
    truth = np.array(true_counts(rows, "emotion"))
    for eps, k in ((1.0, 1), (0.5, 4)):
        draws = np.array([private_histogram(rows, "emotion", eps, max_per_person=k).counts for _ in range(600)])
        err = (draws - truth)[:, truth > 100].ravel()  # bins far from 0, where clamping never applies
        scale = k / eps
        # discrete Laplace with scale b: standard deviation close to sqrt(2)·b for b ≥ 1
        assert abs(err.std() / (math.sqrt(2) * scale) - 1) < 0.1
        assert abs(err.mean()) < 0.25 * scale
        assert epsilon_of(8, scale, k) == pytest.approx(eps, rel=1e-6)


def test_contributions_bounded_per_person() -> None:
    rows = [{"id": i, "time": float(i), "identity": "alice", "emotion": "happy"} for i in range(1, 501)]
    rows += [
        {"id": 1000 + i, "time": float(i), "identity": "unknown", "source": "cam", "track": i % 3, "emotion": "sad"}
        for i in range(30)
    ]
    kept = bound_contributions(rows, 5)
    assert sum(r["identity"] == "alice" for r in kept) == 5
    assert sum(r["emotion"] == "sad" for r in kept) == 15  # three unknown tracks, five rows each
    assert [r["id"] for r in kept if r["identity"] == "alice"] == [1, 2, 3, 4, 5]  # the first ones in time


def test_ledger_composes_and_refuses_over_budget(tmp_path) -> None:
    store = SQLiteStore(tmp_path / "g.db")
    store.set_privacy_budget(1.0)
    store.add_events([{"time": 1e9 + i, "identity": f"p{i}", "emotion": "happy"} for i in range(50)])
    charge = lambda e, q: store.charge_privacy(e, q)  # noqa: E731
    first = private_histogram(store.events(_q()), "emotion", 0.4, charge=charge)
    assert first.budget_left == pytest.approx(0.6)
    private_histogram(store.events(_q()), "hour", 0.4, charge=charge)
    with pytest.raises(PrivacyBudgetError) as e:
        private_histogram(store.events(_q()), "emotion", 0.4, charge=charge)
    msg = str(e.value)
    assert "\n" not in msg and "budget exhausted" in msg and "0.2" in msg
    assert store.privacy_spent() == (pytest.approx(0.8), 2)  # the refused query spent nothing
    store.close()
    # the ledger is in the gallery file: a new process sees what was spent
    again = SQLiteStore(tmp_path / "g.db")
    assert again.privacy_spent()[0] == pytest.approx(0.8)
    with pytest.raises(PrivacyBudgetError):
        again.charge_privacy(0.3, "x")


def _q():
    from emolens.identity.store import EventQuery

    return EventQuery()


def test_cli_events_dp_and_refusal(tmp_path) -> None:
    import json

    from typer.testing import CliRunner

    from emolens.cli.main import app

    g = tmp_path / "g.db"
    store = SQLiteStore(g)
    store.add_events([{"time": 1e9 + i, "identity": f"p{i}", "emotion": "fear"} for i in range(300)])
    store.set_privacy_budget(1.5)
    store.close()
    r = CliRunner().invoke(
        app, ["events", "-g", str(g), "--dp-epsilon", "1", "--by", "emotion", "--max-per-person", "1"]
    )
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout)
    assert out["epsilon"] == pytest.approx(1.0) and abs(out["counts"]["fear"] - 300) < 40
    r = CliRunner().invoke(app, ["events", "-g", str(g), "--dp-epsilon", "1"])
    assert r.exit_code != 0
    lines = [ln for ln in r.output.splitlines() if ln.strip()]
    assert len(lines) == 1 and "budget exhausted" in lines[0]


def test_stats_route(tmp_path) -> None:
    from fastapi import FastAPI
    from fastapi.testclient import TestClient

    from emolens.privacy.audit import AuditLog
    from emolens.serve.stats import stats_router

    store = SQLiteStore(tmp_path / "g.db")
    store.add_events([{"time": 1e9 + i, "identity": f"p{i}", "emotion": "happy"} for i in range(200)])
    store.set_privacy_budget(1.0)
    app = FastAPI()
    app.include_router(stats_router(lambda: SimpleNamespace(store=store), lambda request: "test"))
    client = TestClient(app)
    r = client.get("/v1/stats", params={"by": "emotion", "epsilon": 0.6, "max_per_person": 1})
    assert r.status_code == 200
    body = r.json()
    assert abs(body["counts"]["happy"] - 200) < 30 and body["budget_left"] == pytest.approx(0.4)
    r = client.get("/v1/stats", params={"epsilon": 0.6})
    assert r.status_code == 403 and "budget exhausted" in r.json()["error"]
    queries = AuditLog.for_gallery(store.path).rows(action="dp-query")
    assert len(queries) == 1 and queries[0]["who"].startswith("service ")


def test_stats_route_is_registered_in_the_service(tmp_path) -> None:
    pytest.importorskip("fastapi")
    import time

    from fastapi.testclient import TestClient

    from emolens.serve.app import ServeConfig, create_app

    g = tmp_path / "g.db"
    store = SQLiteStore(g)
    store.add_events([{"time": time.time(), "identity": f"p{i}", "emotion": "sad"} for i in range(100)])
    store.close()
    client = TestClient(create_app(ServeConfig(gallery=g, keys=tmp_path / "keys.db", require_keys=False)))
    assert "/v1/stats" in client.get("/openapi.json").json()["paths"]
    r = client.get("/v1/stats", params={"epsilon": 2, "max_per_person": 1})
    assert r.status_code == 200 and abs(r.json()["counts"]["sad"] - 100) < 15
    assert SQLiteStore(g).privacy_spent() == (pytest.approx(2.0), 1)
