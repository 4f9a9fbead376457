"""Convert MediaPipe's face mesh and iris models, as shipped in ``mediapipe==0.10.14`` (PyPI), to ONNX.

The wheel is only a container here: emolens never imports mediapipe. TensorFlow (for tf2onnx and the TFLite
interpreter that checks the result) is needed for this step only. A scratch environment outside the repository::

    python3 -m venv /tmp/tfvenv
    /tmp/tfvenv/bin/pip install tensorflow-cpu==2.21.0 tf2onnx==1.17.0 onnx onnxruntime opencv-python-headless
    pip download mediapipe==0.10.14 --no-deps -d /tmp/mp          # the wheel, not installed
    /tmp/tfvenv/bin/python scripts/convert_facemesh.py --wheel /tmp/mp/mediapipe-0.10.14-*.whl

Tested with tensorflow-cpu 2.21.0, tf2onnx 1.17.0, Python 3.11.

Models (both use standard TFLite operators only; ``face_landmark_with_attention.tflite`` holds MediaPipe's
custom operators and is not converted):

- ``mediapipe/modules/face_landmark/face_landmark.tflite``: 192x192 RGB face crop → 468 points (x, y in crop
  pixels, z relative depth on the same scale) and a face-presence logit. Input range [0, 1].
- ``mediapipe/modules/iris_landmark/iris_landmark.tflite``: 64x64 RGB eye crop (the eye on the image right;
  the other eye is mirrored first) → 71 eye-contour points and 5 iris points (centre, then 4 on the rim).
  Input range [0, 1].

What it does, for each model:

1. ``python -m tf2onnx.convert --tflite MODEL --opset 17``;
2. makes the input ``image`` uint8 RGB 0-255 ``[N, S, S, 3]`` with a dynamic batch, puts ``x / 255`` into the
   graph (folded into the first convolution's weights), renames the outputs, and renames weights, tensors and
   nodes canonically so the file is reproducible byte for byte;
3. rewrites the two patterns that keep ONNX Runtime's blocked (NCHWc) convolutions from running the graph in one
   layout (:func:`nchwc_friendly`): each per-channel ``PRelu`` becomes 1x1 depthwise convolutions, a ``Relu`` and
   an ``Add`` (``prelu(x) = a*x + relu((1-a)*x)`` where every slope ``a <= 1``, ``a*x + (1-a)*relu(x)``
   otherwise), and each zero-padding of the channels becomes a 1x1 convolution with an identity block. ONNX
   Runtime has no NCHWc ``PRelu`` or ``Pad``: with them every block left the blocked layout and came back (a
   reorder pair per ``PRelu``), which with the ``PRelu`` itself took about 60 % of the time of both models;
4. checks the ONNX model against the TFLite interpreter on real face crops (``--faces``);
5. writes ``src/emolens/models/NAME.onnx``, ``NAME.json`` and ``LICENSES/NAME.txt``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import glob
import importlib.metadata
import json
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import numpy as np

from conversion_utils import canonical_names, sha256
from emolens.models import parse_manifest

REPO = Path(__file__).resolve().parents[1]
VERSION = "0.10.14"

MODELS = {
    "facemesh": {
        "member": "mediapipe/modules/face_landmark/face_landmark.tflite",
        "size": 192,
        "outputs": ["landmarks", "face_flag"],
        "version": f"mediapipe-{VERSION}-2",
        "task": "landmarks",
        "architecture": "MediaPipe Face Mesh (face_landmark.tflite, 468 points with relative depth)",
        "model_card": "https://storage.googleapis.com/mediapipe-assets/Model%20Card%20MediaPipe%20Face%20Mesh.pdf",
    },
    "iris": {
        "member": "mediapipe/modules/iris_landmark/iris_landmark.tflite",
        "size": 64,
        "outputs": ["eye_contour", "iris"],
        "version": f"mediapipe-{VERSION}-2",
        "task": "landmarks",
        "architecture": "MediaPipe Iris (iris_landmark.tflite, 71 eye-contour and 5 iris points)",
        "model_card": "https://mediapipe.page.link/iris-mc",
    },
}


def convert(tflite: Path, raw: Path) -> None:
    cmd = [sys.executable, "-m", "tf2onnx.convert", "--tflite", str(tflite), "--opset", "17", "--output", str(raw)]
    subprocess.run(cmd, check=True, capture_output=True)


def output_order(tflite: Path, names: list[str]) -> list[str]:
    """The TFLite output tensor names, ordered as ``names`` (landmarks first: the larger tensor)."""
    import tensorflow as tf

    interp = tf.lite.Interpreter(model_path=str(tflite))
    outs = sorted(interp.get_output_details(), key=lambda d: -int(np.prod(d["shape"])))
    assert len(outs) == len(names)
    return [d["name"] for d in outs]


def rewrite(src: Path, dst: Path, name: str, size: int, tf_outputs: list[str], new_outputs: list[str]) -> None:
    """uint8 input with ``x / 255`` in the graph, a dynamic batch, readable output names, NCHWc-friendly ops."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    m = onnx.load(str(src))
    g = m.graph
    (inp,) = g.input
    dims = [d.dim_value for d in inp.type.tensor_type.shape.dim]
    assert dims == [1, size, size, 3], dims
    old = inp.name
    # tf2onnx's graph starts with Transpose(NHWC -> NCHW) -> Conv: transpose the uint8 image, cast it, and fold
    # the x / 255 into the first convolution's weights
    (first,) = [n for n in g.node if old in n.input]
    (conv,) = [n for n in g.node if first.output[0] in n.input]
    assert first.op_type == "Transpose" and conv.op_type == "Conv", (first.op_type, conv.op_type)
    inits = {t.name: t for t in g.initializer}
    w = numpy_helper.to_array(inits[conv.input[1]]).astype(np.float64) / 255
    inits[conv.input[1]].CopyFrom(numpy_helper.from_array(w.astype(np.float32), conv.input[1]))
    first.input[:] = ["image"]
    cast = helper.make_node("Cast", [first.output[0]], ["image_nchw_float"], to=TensorProto.FLOAT, name="cast_input")
    conv.input[0] = "image_nchw_float"
    transpose = onnx.NodeProto()
    transpose.CopyFrom(first)
    transpose.name = "transpose_input"
    g.node.remove(first)
    pre = [transpose, cast]
    # tf2onnx puts the batch of 1 into Reshape targets: a leading 0 copies the input's batch instead
    inits = {t.name: t for t in g.initializer}
    for n in g.node:
        if n.op_type == "Reshape" and n.input[1] in inits:
            shape = numpy_helper.to_array(inits[n.input[1]]).copy()
            if shape.ndim == 1 and len(shape) >= 2 and shape[0] == 1:
                shape[0] = 0
                inits[n.input[1]].CopyFrom(numpy_helper.from_array(shape.astype(np.int64), n.input[1]))
    rename = dict(zip(tf_outputs, new_outputs, strict=True))
    out_map = {o.name: o for o in g.output}
    for n in g.node:
        n.output[:] = [rename.get(o, o) for o in n.output]
        n.input[:] = [rename.get(i, i) for i in n.input]
    new_outs = []
    for old_name, new_name in zip(tf_outputs, new_outputs, strict=True):
        o = out_map[old_name]
        d = [x.dim_value for x in o.type.tensor_type.shape.dim]
        new_outs.append(helper.make_tensor_value_info(new_name, TensorProto.FLOAT, ["batch", *d[1:]]))
    del g.output[:]
    g.output.extend(new_outs)
    nodes = list(g.node)
    del g.node[:]
    g.node.extend(pre + nodes)
    del g.input[:]
    g.input.append(helper.make_tensor_value_info("image", TensorProto.UINT8, ["batch", size, size, 3]))
    g.name = name
    g.doc_string = ""  # tf2onnx writes the temporary folder's name here, which differs from run to run
    nchwc_friendly(m)
    m.doc_string = f"MediaPipe {name} model from PyPI mediapipe=={VERSION}; see {name}.json"
    canonical_names(m)
    onnx.checker.check_model(m, full_check=True)
    onnx.save(m, str(dst))


def nchwc_friendly(m) -> None:
    """Rewrite per-channel ``PRelu`` and channel zero-padding ``Pad`` into ops ONNX Runtime runs in its blocked
    NCHWc layout (1x1 convolutions, ``Relu``, ``Add``), in place; the same function to float rounding.

    ``PRelu`` with slopes ``a`` (one per channel): where every ``a <= 1``, ``a*x + relu((1-a)*x)`` (two 1x1
    depthwise convolutions, the ``Relu`` fused into the second by ONNX Runtime, the ``Add`` into the first);
    otherwise ``a*x + (1-a)*relu(x)``, which holds for any slope. ``Pad`` that appends zero channels to an NCHW
    tensor (MediaPipe's residual shortcut into a wider block): a 1x1 convolution whose weights copy the input
    channels and leave the new ones zero.
    """
    from onnx import helper, numpy_helper, shape_inference

    g = m.graph
    inits = {t.name: t for t in g.initializer}
    shapes = {
        v.name: [d.dim_value for d in v.type.tensor_type.shape.dim]
        for v in shape_inference.infer_shapes(m).graph.value_info
    }
    nodes = []
    for k, n in enumerate(g.node):
        if n.op_type == "PRelu" and n.input[1] in inits:
            x, out = n.input[0], n.output[0]
            a = numpy_helper.to_array(inits[n.input[1]]).reshape(-1).astype(np.float32)
            c = a.size
            wa, wb = f"prelu{k}_slope", f"prelu{k}_rest"
            g.initializer.append(numpy_helper.from_array(a.reshape(c, 1, 1, 1), wa))
            g.initializer.append(numpy_helper.from_array((1 - a).reshape(c, 1, 1, 1), wb))
            dw = {"group": c, "kernel_shape": [1, 1]}
            if a.max() <= 1:
                nodes += [
                    helper.make_node("Conv", [x, wb], [f"prelu{k}_b"], name=f"prelu{k}_conv_rest", **dw),
                    helper.make_node("Relu", [f"prelu{k}_b"], [f"prelu{k}_pos"], name=f"prelu{k}_relu"),
                ]
            else:
                nodes += [
                    helper.make_node("Relu", [x], [f"prelu{k}_r"], name=f"prelu{k}_relu"),
                    helper.make_node("Conv", [f"prelu{k}_r", wb], [f"prelu{k}_pos"], name=f"prelu{k}_conv_rest", **dw),
                ]
            nodes += [
                helper.make_node("Conv", [x, wa], [f"prelu{k}_lin"], name=f"prelu{k}_conv_slope", **dw),
                helper.make_node("Add", [f"prelu{k}_lin", f"prelu{k}_pos"], [out], name=f"prelu{k}_add"),
            ]
            continue
        if n.op_type == "Pad" and n.input[1] in inits and (len(n.input) < 3 or not n.input[2]):
            pads = numpy_helper.to_array(inits[n.input[1]]).tolist()
            mode = [a.s for a in n.attribute if a.name == "mode"]
            if len(pads) == 8 and pads[5] > 0 and not any(pads[:5] + pads[6:]) and mode in ([], [b"constant"]):
                cin = shapes[n.input[0]][1]
                w = np.zeros((cin + pads[5], cin, 1, 1), np.float32)
                w[np.arange(cin), np.arange(cin)] = 1
                g.initializer.append(numpy_helper.from_array(w, f"pad{k}_copy"))
                nodes.append(
                    helper.make_node(
                        "Conv", [n.input[0], f"pad{k}_copy"], list(n.output), name=f"pad{k}", kernel_shape=[1, 1]
                    )
                )
                continue
        nodes.append(n)
    del g.node[:]
    g.node.extend(nodes)
    used = {i for n in g.node for i in n.input}
    kept = [t for t in g.initializer if t.name in used]
    del g.initializer[:]
    g.initializer.extend(kept)


def face_crops(faces: Path, size: int, n: int = 24) -> np.ndarray:
    """Real face crops for the check: the centre square of face photos, resized."""
    import cv2

    files = sorted(glob.glob(str(faces / "*.jpg")))[:n]
    crops = []
    for f in files:
        bgr = cv2.imread(f)
        h, w = bgr.shape[:2]
        s = min(h, w)
        y0, x0 = (h - s) // 2, (w - s) // 2
        sq = bgr[y0 : y0 + s, x0 : x0 + s]
        crops.append(cv2.cvtColor(cv2.resize(sq, (size, size), interpolation=cv2.INTER_AREA), cv2.COLOR_BGR2RGB))
    if not crops:
        raise SystemExit(f"no face photos in {faces}")
    return np.stack(crops)


def verify(tflite: Path, onnx_path: Path, crops: np.ndarray, tf_outputs: list[str], new_outputs: list[str]) -> dict:
    import onnxruntime as ort
    import tensorflow as tf

    interp = tf.lite.Interpreter(model_path=str(tflite))
    interp.allocate_tensors()
    i_in = interp.get_input_details()[0]["index"]
    by_name = {d["name"]: d["index"] for d in interp.get_output_details()}
    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    sess = ort.InferenceSession(str(onnx_path), opts, providers=["CPUExecutionProvider"])
    worst = dict.fromkeys(new_outputs, 0.0)
    batched = sess.run(new_outputs, {"image": crops})
    for k, x in enumerate(crops):
        interp.set_tensor(i_in, (x[None].astype(np.float32) / 255.0))
        interp.invoke()
        got = sess.run(new_outputs, {"image": x[None]})
        for name, tf_name, g, b in zip(new_outputs, tf_outputs, got, batched, strict=True):
            ref = interp.get_tensor(by_name[tf_name]).reshape(1, -1)
            worst[name] = max(worst[name], float(np.abs(ref - g.reshape(1, -1)).max()))
            worst[name] = max(worst[name], float(np.abs(ref - b[k].reshape(1, -1)).max()))
    if max(worst.values()) > 0.05:
        raise SystemExit(f"ONNX differs from TFLite: {worst}")
    return {"crops": len(crops), "batched_and_single": True, **{f"max_abs_diff_{k}": v for k, v in worst.items()}}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--wheel", required=True, help="mediapipe-0.10.14-*.whl (from pip download)")
    ap.add_argument("--out-dir", type=Path, default=REPO / "src/emolens/models")
    ap.add_argument(
        "--faces",
        type=Path,
        default=REPO.parent / "shared/datasets/attention/head_pose/images",
        help="folder of face photos to check the conversion on",
    )
    args = ap.parse_args()
    wheel = Path(sorted(glob.glob(args.wheel))[0])
    import onnx
    import tensorflow as tf
    import tf2onnx

    out_dir = args.out_dir
    (out_dir / "LICENSES").mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp, zipfile.ZipFile(wheel) as z:
        licence = z.read(f"mediapipe-{VERSION}.dist-info/LICENSE").decode()
        for name, spec in MODELS.items():
            tflite = Path(tmp) / Path(spec["member"]).name
            tflite.write_bytes(z.read(spec["member"]))
            raw = Path(tmp) / f"{name}-raw.onnx"
            convert(tflite, raw)
            tf_outputs = output_order(tflite, spec["outputs"])
            onnx_path = out_dir / f"{name}.onnx"
            rewrite(raw, onnx_path, name, spec["size"], tf_outputs, spec["outputs"])
            check = verify(tflite, onnx_path, face_crops(args.faces, spec["size"]), tf_outputs, spec["outputs"])
            print(f"{name}: check against TFLite: {check}")
            (out_dir / "LICENSES" / f"{name}.txt").write_text(
                f"{onnx_path.name} is converted from {spec['member']} in the PyPI wheel mediapipe=={VERSION}\n"
                "(Google MediaPipe, https://github.com/google-ai-edge/mediapipe), distributed under the\n"
                "Apache License, Version 2.0, reproduced below. Changes: converted to ONNX, uint8 input with the\n"
                "scaling to [0, 1] inside the graph, a dynamic batch dimension, renamed tensors.\n\n" + licence
            )
            old = {}
            if (out_dir / f"{name}.json").exists():
                old = json.loads((out_dir / f"{name}.json").read_text())
            manifest = {
                "name": name,
                "version": spec["version"],
                "task": spec["task"],
                "file": onnx_path.name,
                "sha256": sha256(onnx_path),
                "architecture": spec["architecture"],
                "source": {
                    "package": f"mediapipe=={VERSION} (PyPI)",
                    "path": spec["member"],
                    "sha256": sha256(tflite),
                    "homepage": "https://github.com/google-ai-edge/mediapipe",
                    "model_card": spec["model_card"],
                },
                "licence": "Apache-2.0 (Google MediaPipe); notice in LICENSES/" + name + ".txt",
                "licence_file": f"LICENSES/{name}.txt",
                "input": {
                    "name": "image",
                    "dtype": "uint8",
                    "shape": ["batch", spec["size"], spec["size"], 3],
                    "layout": "NHWC",
                    "colour": "RGB",
                    "range": [0, 255],
                    "normalisation": "x / 255, inside the graph",
                },
                "outputs": (
                    {
                        "landmarks": "[N, 1404]: 468 points (x, y, z) in input pixels; z is relative depth "
                        "(smaller is nearer the camera), on the scale of x",
                        "face_flag": "[N, 1]: face-presence logit (sigmoid gives the score)",
                    }
                    if name == "facemesh"
                    else {
                        "eye_contour": "[N, 213]: 71 eye-contour and brow points (x, y, z) in input pixels",
                        "iris": "[N, 15]: 5 iris points (x, y, z), the centre first, in input pixels",
                    }
                ),
                # small models run per face next to other stages: idle threads sleep rather than spin
                "session_config": {"session.intra_op.allow_spinning": "0"},
                "conversion": {
                    "command": "python -m tf2onnx.convert --tflite MODEL --opset 17, then "
                    "scripts/convert_facemesh.py adds the uint8 input, scaling and dynamic batch and rewrites "
                    "PRelu and channel Pad into ops ONNX Runtime runs in its NCHWc layout",
                    "script": "scripts/convert_facemesh.py",
                    "tensorflow": tf.__version__,
                    "tf2onnx": tf2onnx.__version__,
                    "onnx": onnx.__version__,
                    "opset": 17,
                    "date": dt.date.today().isoformat(),
                    "check_against_tflite": check,
                },
            }
            for key in ("metrics", "crop"):
                if key in old:
                    manifest[key] = old[key]
            parse_manifest(manifest, out_dir / f"{name}.json").write(out_dir / f"{name}.json")
    print(f"wrote {', '.join(MODELS)} to {out_dir} (tensorflow {importlib.metadata.version('tensorflow-cpu')})")


if __name__ == "__main__":
    main()
