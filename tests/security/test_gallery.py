"""The gallery through a real server and the real CLI: names are checked in one place, a face-less photo is one line,
a damaged gallery is a 503 that names no path, and `emolens gallery recover` saves what a bad page spares."""

from __future__ import annotations

import io
import json
import shutil
import sqlite3
import struct

import httpx
import numpy as np
import pytest
from PIL import Image

from emolens.identity.store import EmbeddingRecord, SQLiteStore

from .conftest import cli, flat


@pytest.fixture(scope="module")
def gallery_server(start_server, tmp_path_factory):
    d = tmp_path_factory.mktemp("gallery")
    return start_server("--no-keys", "--keys", str(d / "k.db"), "--gallery", str(d / "g.db"), name="gallery")


def blank_jpeg() -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (320, 240), (120, 130, 140)).save(buf, "JPEG")
    return buf.getvalue()


def test_verify_with_a_faceless_photo_is_one_line(gallery_server, face_jpeg):
    files = {"a": ("a.jpg", face_jpeg, "image/jpeg"), "b": ("b.jpg", blank_jpeg(), "image/jpeg")}
    r = httpx.post(gallery_server.url + "/v1/verify", files=files, timeout=120)
    assert r.status_code == 422, r.text
    assert r.json() == {"error": "b: no face found"}


@pytest.mark.parametrize(
    ("name", "why"),
    [
        ("unknown", "reserved"),
        ("Unknown ", "reserved"),
        ("ann/bob", "'/'"),
        ("bell\x07", "control"),
        ("line\nbreak", "control"),
        ("rtl\u202eevil", "control"),
        ("x" * 200_000, "at most 100"),
        ("   ", "non-empty"),
    ],
)
def test_bad_names_are_refused_by_the_api(gallery_server, face_jpeg, name, why):
    files = {"images": ("a.jpg", face_jpeg, "image/jpeg")}
    r = httpx.post(gallery_server.url + "/v1/people", data={"name": name}, files=files, timeout=120)
    assert r.status_code == 422 and why in r.json()["error"], r.text


def test_names_are_normalised_and_removable(gallery_server, face_jpeg):
    files = {"images": ("a.jpg", face_jpeg, "image/jpeg")}
    r = httpx.post(gallery_server.url + "/v1/people", data={"name": " Jose\u0301 "}, files=files, timeout=120)
    assert r.status_code == 200, r.text
    assert [p["name"] for p in httpx.get(gallery_server.url + "/v1/people").json()] == ["Jos\u00e9"]
    assert httpx.delete(gallery_server.url + "/v1/people/Jos%C3%A9").status_code == 200


def test_bad_names_are_refused_by_the_cli(tmp_path, data_dir):
    photo = str(data_dir / "lfw" / "images" / "Aaron_Peirsol" / "Aaron_Peirsol_0001.jpg")
    for name in ("unknown", "a/b", "tab\there"):
        r = cli("enroll", name, photo, "--gallery", str(tmp_path / "g.db"))
        assert r.returncode != 0 and "error" in r.stderr and "Traceback" not in r.stderr, (name, r.stderr)
    assert cli("gallery", "list", "-f", "json", "--gallery", str(tmp_path / "g.db")).stdout.strip() in ("[]", "")
    people = tmp_path / "people"  # from folders: a bad folder name is reported, the others are enrolled
    for folder in ("unknown", "Aaron Peirsol"):
        (people / folder).mkdir(parents=True)
        shutil.copy(photo, people / folder / "1.jpg")
    r = cli("enroll", "--from-folder", str(people), "--gallery", str(tmp_path / "g.db"))
    assert r.returncode == 1 and "'unknown'" in r.stderr and "reserved" in flat(r.stderr), r.stderr
    listed = cli("gallery", "list", "-f", "json", "--gallery", str(tmp_path / "g.db")).stdout
    assert [p["name"] for p in json.loads(listed)] == ["Aaron Peirsol"]


def fill(path, persons: int = 30, embeddings: int = 119) -> int:
    """A gallery like the one of the report: 30 people, 119 SFace-sized embeddings (4 each, 3 for the last)."""
    store = SQLiteStore(path)
    rng = np.random.default_rng(0)
    for k in range(persons):
        n = min(4, embeddings - 4 * k)
        vecs = rng.standard_normal((n, 128)).astype(np.float32)
        store.add(f"person {k:02d}", "sface", [EmbeddingRecord(v, source=f"p{k}_{j}.jpg") for j, v in enumerate(vecs)])
    store.close()
    return embeddings


def last_leaf(path, table: str) -> tuple[int, int, int]:
    """The last leaf page of a table's b-tree in the file: (page number, page size, number of rows on it)."""
    db = sqlite3.connect(path)
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    root = db.execute("SELECT rootpage FROM sqlite_master WHERE name = ?", (table,)).fetchone()[0]
    size = db.execute("PRAGMA page_size").fetchone()[0]
    db.close()
    data = path.read_bytes()
    page = root
    while True:
        at = (page - 1) * size + (100 if page == 1 else 0)
        kind = data[at]
        if kind == 0x0D:  # a table leaf
            return page, size, struct.unpack(">H", data[at + 3 : at + 5])[0]
        assert kind == 0x05, kind  # a table interior page: follow its right-most child
        page = struct.unpack(">I", data[at + 8 : at + 12])[0]


def damage(path, page: int, size: int) -> None:
    data = bytearray(path.read_bytes())
    data[(page - 1) * size : page * size] = bytes(range(256)) * (size // 256)
    path.write_bytes(bytes(data))


def test_recover_saves_the_rows_around_a_damaged_last_page(tmp_path):
    path = tmp_path / "g.db"
    total = fill(path)
    page, size, on_page = last_leaf(path, "embeddings")
    assert 2 <= on_page < total
    damage(path, page, size)
    r = cli("gallery", "recover", "--gallery", str(path))
    assert r.returncode == 0, r.stderr
    saved = sqlite3.connect(path)
    n = saved.execute("SELECT COUNT(*) FROM embeddings").fetchone()[0]
    assert n == total - on_page, r.stderr
    lost_ids = f"ids {total - on_page + 1}-{total}"
    said = flat(r.stderr)
    assert f"{n} embeddings" in said and f"lost {on_page} embeddings ({lost_ids})" in said, r.stderr
    people = saved.execute("SELECT COUNT(*) FROM persons").fetchone()[0]
    assert people >= 30 - (on_page // 4 + 1)
    saved.close()
    assert cli("gallery", "list", "-f", "json", "--gallery", str(path)).returncode == 0


def test_a_damaged_gallery_is_a_server_fault_that_names_no_path(start_server, tmp_path, face_jpeg):
    path = tmp_path / "damaged.db"
    fill(path)
    page, size, _ = last_leaf(path, "embeddings")
    damage(path, page, size)
    srv = start_server("--no-keys", "--keys", str(tmp_path / "k.db"), "--gallery", str(path), name="damaged")
    for method, route, kw in (
        ("GET", "/v1/people", {}),
        ("GET", "/v1/events", {}),
        ("POST", "/v1/identify", {"files": {"image": ("q.jpg", face_jpeg, "image/jpeg")}}),
    ):
        r = httpx.request(method, srv.url + route, timeout=120, **kw)
        assert r.status_code == 503, (route, r.status_code, r.text)
        assert str(tmp_path) not in r.text and "damaged.db" not in r.text and "/" not in r.json()["error"], r.text
    assert str(path) in srv.log()  # the operator is told where, in the server's log
