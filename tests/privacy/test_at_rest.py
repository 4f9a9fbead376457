"""Data at rest: retention and purge, encryption of the gallery file, the audit log."""

from __future__ import annotations

import time

import numpy as np
import pytest
from typer.testing import CliRunner

from emolens.cli.main import app
from emolens.errors import GalleryError
from emolens.identity.store import EmbeddingRecord, EventQuery, SQLiteStore
from emolens.privacy.audit import AuditLog, audit_path
from emolens.privacy.retention import Retention, parse_age

DAY = 86400.0


def _fill(store: SQLiteStore, now: float) -> None:
    store.add_events([{"time": now - age * DAY, "identity": f"p{age}", "emotion": "happy"} for age in (1, 10, 40, 90)])
    for age in (5, 45):
        store.add_alert({"time": now - age * DAY, "rule": "r", "identity": "x", "emotion": "angry"})


def test_parse_age() -> None:
    assert parse_age("30d") == 30 * DAY and parse_age("12h") == 12 * 3600 and parse_age("90") == 90
    with pytest.raises(Exception, match="--retain"):
        parse_age("soon")


def test_retention_at_start_and_on_schedule(tmp_path) -> None:
    store = SQLiteStore(tmp_path / "g.db")
    now = time.time()
    _fill(store, now)
    keeper = Retention(store, keep_s=30 * DAY, every_s=0.2)
    gone = keeper.start()
    try:
        assert gone == {"events": 2, "alerts": 1}
        assert sorted(e["identity"] for e in store.events(EventQuery())) == ["p1", "p10"]
        # a row that ages past the limit while the process runs is removed by the schedule
        store.add_events([{"time": now - 31 * DAY, "identity": "late", "emotion": "sad"}])
        deadline = time.time() + 10
        while time.time() < deadline and any(e["identity"] == "late" for e in store.events(EventQuery())):
            time.sleep(0.1)
        assert not any(e["identity"] == "late" for e in store.events(EventQuery()))
    finally:
        keeper.stop()
    assert keeper.purged["events"] == 3 and not keeper.errors
    assert [r["action"] for r in AuditLog.for_gallery(store.path).rows()].count("retention") >= 2


def test_gallery_purge_cli(tmp_path) -> None:
    g = tmp_path / "g.db"
    store = SQLiteStore(g)
    _fill(store, time.time())
    store.close()
    cutoff = time.strftime("%Y-%m-%d", time.localtime(time.time() - 20 * DAY))
    r = CliRunner().invoke(app, ["gallery", "purge", "-g", str(g), "--before", cutoff])
    assert r.exit_code == 0, r.output
    left = SQLiteStore(g).events(EventQuery())
    assert sorted(e["identity"] for e in left) == ["p1", "p10"]
    assert SQLiteStore(g).events(EventQuery(), table="alerts")[0]["time"] > time.time() - 20 * DAY


def test_encrypted_gallery_has_no_clear_embeddings(tmp_path, monkeypatch) -> None:
    pytest.importorskip("sqlcipher3")
    path = tmp_path / "secret.db"
    vec = np.random.default_rng(7).standard_normal(128).astype(np.float32)
    store = SQLiteStore(path, key="correct horse battery staple")
    store.add("alice", "sface", [EmbeddingRecord(vec, source="alice.jpg")])
    store.add_events([{"time": time.time(), "identity": "alice", "emotion": "happy", "source": "cam-7"}])
    store.close()
    raw = b"".join(p.read_bytes() for p in tmp_path.iterdir() if p.name.startswith("secret"))
    assert vec.tobytes()[:16] not in raw and vec.tobytes()[-16:] not in raw
    assert b"alice" not in raw and b"cam-7" not in raw and b"SQLite format 3" not in raw
    # the same key reads it back
    again = SQLiteStore(path, key="correct horse battery staple")
    names, _, matrix = again.vectors("sface")
    assert names == ["alice"] and np.array_equal(matrix[0], vec)
    again.close()
    with pytest.raises(GalleryError, match="wrong key") as e:
        SQLiteStore(path, key="wrong")
    assert "\n" not in str(e.value)
    monkeypatch.delenv("EMOLENS_GALLERY_KEY", raising=False)
    with pytest.raises(GalleryError, match="encrypted"):
        SQLiteStore(path)
    # through the CLI: a key from a file, and one line for a wrong key
    keyfile = tmp_path / "key.txt"
    keyfile.write_text("wrong\n")
    monkeypatch.setenv("EMOLENS_GALLERY_KEY_FILE", str(keyfile))
    r = CliRunner().invoke(app, ["gallery", "list", "-g", str(path)])
    lines = [ln for ln in r.output.splitlines() if ln.strip()]
    assert r.exit_code == 3 and len(lines) == 1 and "wrong key" in lines[0]
    keyfile.write_text("correct horse battery staple\n")
    r = CliRunner().invoke(app, ["gallery", "list", "-g", str(path), "-f", "json"])
    assert r.exit_code == 0 and "alice" in r.output


def test_encrypt_existing_gallery(tmp_path, monkeypatch) -> None:
    pytest.importorskip("sqlcipher3")
    path = tmp_path / "g.db"
    vec = np.arange(128, dtype=np.float32)
    store = SQLiteStore(path)
    store.add("bob", "sface", [EmbeddingRecord(vec)])
    store.close()
    assert vec.tobytes()[:64] in path.read_bytes()
    monkeypatch.setenv("EMOLENS_GALLERY_KEY", "k3y")
    r = CliRunner().invoke(app, ["gallery", "encrypt", "-g", str(path)])
    assert r.exit_code == 0, r.output
    assert vec.tobytes()[:64] not in path.read_bytes() and not path.read_bytes().startswith(b"SQLite format 3")
    assert not audit_path(path).read_bytes().startswith(b"SQLite format 3")
    assert SQLiteStore(path).persons()[0].name == "bob"


def test_audit_log_apart_from_event_log(tmp_path) -> None:
    g = tmp_path / "g.db"
    store = SQLiteStore(g)
    store.actor = "tester@host"
    store.add("carol", "sface", [EmbeddingRecord(np.ones(4, np.float32))])
    store.add_events([{"time": time.time(), "identity": "carol", "emotion": "sad"}])
    store.remove("carol")
    store.purge_before(time.time())
    store.close()
    r = CliRunner().invoke(app, ["events", "-g", str(g), "-o", str(tmp_path / "out.csv"), "-f", "csv"])
    assert r.exit_code == 0, r.output
    rows = AuditLog.for_gallery(g).rows()
    assert [x["action"] for x in rows] == ["enrol", "delete", "purge", "export"]
    assert rows[0]["who"] == "tester@host" and "carol" in rows[0]["what"] and "carol" in rows[1]["what"]
    assert audit_path(g) != g and audit_path(g).is_file()
    # deleting the person removed their events but not the record that it was done
    assert SQLiteStore(g).events(EventQuery()) == []
    r = CliRunner().invoke(app, ["gallery", "audit", "-g", str(g), "--action", "delete"])
    assert r.exit_code == 0 and "carol" in r.output
