"""The service's one table from an exception's type to its HTTP status, and the answer each error gets."""

from __future__ import annotations

import json
import sqlite3

import pytest

pytest.importorskip("fastapi")
from fastapi import FastAPI
from fastapi.testclient import TestClient

from emolens.errors import ConfigError, GalleryError, ImageError, MissingExtraError, PrivacyBudgetError, VideoError
from emolens.serve.errors import (
    UNAVAILABLE,
    NotFoundError,
    TooLargeError,
    UnavailableError,
    error_response,
    install_error_handlers,
    status_of,
)


class _UnexpectedError(Exception):
    pass


@pytest.mark.parametrize(
    ("error", "status"),
    [
        (ImageError("not an image", "/srv/secret/x.jpg"), 400),
        (ConfigError("unknown detector 'haar'"), 400),
        (PrivacyBudgetError("budget exhausted"), 403),
        (NotFoundError("no one named 'x' is enrolled"), 404),
        (TooLargeError("upload larger than 10 bytes"), 413),
        (GalleryError("corrupt", "/srv/g.db"), 503),
        (VideoError("no camera", "/dev/video0"), 503),
        (MissingExtraError("opendp", "privacy"), 503),
        (sqlite3.DatabaseError("file is not a database"), 503),
        (UnavailableError("the gallery cannot be read"), 503),
        (_UnexpectedError("boom"), 500),
    ],
)
def test_each_error_type_has_its_status(error, status):
    assert status_of(error) == status
    body = json.loads(error_response(error).body)
    assert set(body) == {"error"} and "\n" not in body["error"] and "/srv" not in body["error"]
    if status == 500:
        assert body["error"] == "internal error (_UnexpectedError)"


def test_a_subclass_takes_the_status_of_its_nearest_listed_class():
    class StaleGalleryError(GalleryError):
        pass

    class WrongPhotoError(ImageError):
        pass

    assert status_of(StaleGalleryError("old")) == 503 and status_of(WrongPhotoError("no face")) == 400


def test_the_handlers_answer_by_type_and_log_server_faults(caplog):
    app = FastAPI()
    install_error_handlers(app)

    @app.get("/client")
    def client_fault() -> None:
        raise ImageError("cannot decode", "/srv/uploads/a.jpg")

    @app.get("/server")
    def server_fault() -> None:
        raise GalleryError("database disk image is malformed", "/srv/g.db")

    c = TestClient(app)
    r = c.get("/client")
    assert r.status_code == 400 and r.json() == {"error": "cannot decode"}  # the line, never the path
    with caplog.at_level("WARNING", logger="emolens.serve"):
        r = c.get("/server")
    assert r.status_code == 503 and r.json() == {"error": UNAVAILABLE}
    assert "GET /server" in caplog.text and "/srv/g.db" in caplog.text  # the details go to the log only
    r = c.get("/nowhere")
    assert r.status_code == 404 and set(r.json()) == {"error"}
