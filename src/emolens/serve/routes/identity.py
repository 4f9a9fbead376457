"""The gallery of enrolled people: ``POST /v1/identify``, ``POST /v1/verify``, ``GET``/``POST /v1/people`` and
``DELETE /v1/people/{name}``. Enrolment keeps embeddings only, never the images."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, File, Form, UploadFile

from emolens.errors import ConfigError, ImageError
from emolens.identity.gallery import Verification
from emolens.identity.names import check_name
from emolens.serve.deps import State, image_rgb
from emolens.serve.errors import NotFoundError, TooLargeError, UnprocessableError, one_line

router = APIRouter()


@router.post("/v1/identify")
def identify(state: State, image: UploadFile = File(...)) -> dict[str, Any]:  # noqa: B008
    rgb = image_rgb(state, image)
    result = state.identifier().analyze(rgb, color_order="rgb", source=image.filename or "image")
    state.metrics.faces.inc(len(result.faces))
    return result.to_dict()


@router.post("/v1/verify")
def verify(state: State, a: UploadFile = File(...), b: UploadFile = File(...)) -> dict[str, Any]:  # noqa: B008
    g = state.gallery()
    embedded = []
    for upload, field_name in ((a, "a"), (b, "b")):
        rgb = image_rgb(state, upload, field_name)
        try:
            embedded.append(g.embedding(rgb, source=field_name))
        except ImageError as e:  # e.g. no face: say which photo, never the pixels
            raise UnprocessableError(f"{field_name}: {e.message}") from None
    score = float(embedded[0] @ embedded[1])
    v = Verification(score >= g.threshold, score, g.threshold)
    return {**v.to_dict(), "model": g.model}


@router.get("/v1/people")
def people(state: State) -> list[dict[str, Any]]:
    return [p.to_dict() for p in state.gallery().people()]


@router.post("/v1/people")
def enrol(
    state: State,
    name: str = Form(...),
    images: list[UploadFile] = File(...),  # noqa: B008
    replace: bool = Form(False),
) -> dict[str, Any]:
    try:
        name = check_name(name)
    except ConfigError as e:
        raise UnprocessableError(f"name: {e.message}") from None
    limit = state.cfg.max_enrol_images
    if len(images) > limit:
        raise TooLargeError(f"at most {limit} images per enrolment")
    pics = [image_rgb(state, u, u.filename or "image") for u in images]
    report = state.gallery().enroll(name, pics, replace=replace)
    if report.added == 0:
        raise UnprocessableError("no usable face in the images: " + "; ".join(m for _, m in report.failures))
    return report.to_dict()


@router.delete("/v1/people/{name:path}")  # :path, so that a name enrolled before names were checked can go
def remove(state: State, name: str) -> dict[str, Any]:
    if not state.gallery().remove(name):
        raise NotFoundError(f"no one named {one_line(name)!r} is enrolled")
    return {"removed": name}
