"""``POST /v1/analyze``: the faces of one photo, with boxes, landmarks and emotions (``ImageResult.to_dict()``)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, File, Query, UploadFile

from emolens.serve.deps import State, image_rgb

router = APIRouter()


@router.post("/v1/analyze")
def analyze(
    state: State,
    image: UploadFile = File(...),  # noqa: B008
    detector: str | None = Query(
        None, description="yunet (default), retinaface (thorough) or blazeface (faces over ~1/10 of the image)"
    ),
) -> dict[str, Any]:
    analyzer = state.analyzer(detector)  # an unknown detector is refused before the upload is decoded
    rgb = image_rgb(state, image)
    result = analyzer.analyze(rgb, color_order="rgb", source=image.filename or "image")
    state.metrics.faces.inc(len(result.faces))
    return result.to_dict()
