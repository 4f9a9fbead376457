"""The architecture registry: every network maps grey faces to logits, and the face-recognition start really
carries the shipped recognition weights."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from emolens.registry import models_dir  # noqa: E402
from emolens.train import architectures  # noqa: E402


@pytest.mark.parametrize("name", sorted(architectures.ARCHITECTURES))
def test_every_architecture_maps_grey_crops_to_logits(name):
    kwargs = {"pretrained": False} if name == "sface" else {}
    model = architectures.build(name, 8, **kwargs).eval()
    with torch.no_grad():
        out = model(torch.zeros(3, 1, 40, 40))
    assert out.shape == (3, 8)
    assert torch.isfinite(out).all()


def test_unknown_architecture_names_the_known_ones():
    with pytest.raises(KeyError, match="cnn"):
        architectures.build("no-such-net", 7)


def test_sface_start_reproduces_the_recognition_network_on_grey_faces():
    """The folded one-channel first layer and the copied layers give SFace's own features for a grey face."""
    import onnx
    import onnxruntime as ort

    mean, std = 0.5, 0.25
    model = architectures.build("sface", 7, mean=mean, std=std).eval()
    graph = onnx.load(str(models_dir() / "sface.onnx"))
    graph.graph.output.append(onnx.helper.make_tensor_value_info("conv_14_relu", onnx.TensorProto.FLOAT, None))
    sess = ort.InferenceSession(graph.SerializeToString(), providers=["CPUExecutionProvider"])
    pixels = np.random.default_rng(0).random((2, 1, 112, 112), dtype=np.float32)
    reference = sess.run(["conv_14_relu"], {"data": np.repeat(pixels * 255.0, 3, axis=1)})[0]
    with torch.no_grad():
        ours = model.features(torch.from_numpy((pixels - mean) / std)).numpy()
    assert ours.shape == reference.shape == (2, 1024, 7, 7)
    np.testing.assert_allclose(ours, reference, atol=1e-3 * np.abs(reference).max())


def test_sface_without_the_recognition_start_differs():
    a = architectures.build("sface", 7, pretrained=False)
    b = architectures.build("sface", 7)
    wa, wb = a.features[0][0].weight, b.features[0][0].weight
    assert wa.shape == wb.shape == (32, 1, 3, 3)
    assert not torch.allclose(wa, wb)


def test_export_writes_prelu_as_fast_equivalent_ops(tmp_path):
    """ONNX Runtime's per-channel PRelu is slow, so export writes a * x + (1 - a) * relu(x): same outputs."""
    import collections

    import onnx
    import onnxruntime as ort

    from emolens.train.export import export_onnx

    model = architectures.build("sface", 7, pretrained=False).eval()
    for m in model.modules():
        if isinstance(m, torch.nn.PReLU):
            m.weight.data.uniform_(-0.5, 0.5)
    path = tmp_path / "sface.onnx"
    export_onnx(model, path, 40)
    ops = collections.Counter(n.op_type for n in onnx.load(str(path)).graph.node)
    assert ops["PRelu"] == 0 and ops["Relu"] == 27
    x = np.random.default_rng(1).standard_normal((4, 1, 40, 40)).astype(np.float32)
    with torch.no_grad():
        ref = model(torch.from_numpy(x)).numpy()
    out = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(None, {"input": x})[0]
    np.testing.assert_allclose(out, ref, atol=1e-4)
    assert isinstance(model.features[0][2], torch.nn.PReLU)  # the trained model itself is left alone


def test_init_from_takes_matching_tensors_and_names_the_rest():
    from emolens.train.loop import load_matching

    eight = architectures.build("cnn", 8)
    seven = architectures.build("cnn", 7)
    skipped = load_matching(seven, eight.state_dict())
    assert skipped == ["head.6.bias", "head.6.weight"]
    assert torch.equal(seven.features[0][0].weight, eight.features[0][0].weight)
    assert not torch.equal(seven.head[3].weight, torch.zeros_like(seven.head[3].weight))


def test_teacher_may_be_a_shipped_model_name():
    from dataclasses import replace

    from emolens.train.config import preset
    from emolens.train.teachers import load_teachers

    cfg = replace(preset("small-test"), teacher=("emotion-fer2013-int8",), distill_weight=0.5, threads=1)
    (teacher,) = load_teachers(cfg)
    out = teacher.run(None, {teacher.get_inputs()[0].name: np.zeros((2, 1, 40, 40), np.float32)})[0]
    assert out.shape == (2, 7)


def _trained_looking_cnn() -> torch.nn.Module:
    """A `cnn` with batch-norm statistics and affine terms far from their initial values, as after training; the
    same network at every call."""
    torch.manual_seed(0)
    model = architectures.build("cnn", 7)
    for bn in (m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)):
        bn.running_mean.uniform_(-1, 1)
        bn.running_var.uniform_(0.5, 2)
        bn.weight.data.uniform_(0.5, 1.5)
        bn.bias.data.uniform_(-0.5, 0.5)
    return model.eval()


def test_widened_cnn_computes_what_the_narrow_one_did():
    narrow = _trained_looking_cnn()
    wide = architectures.widen_cnn(narrow, (40, 80, 160, 320), seed=1).eval()
    assert [m[0].out_channels for m in wide.features if isinstance(m, torch.nn.Sequential)] == [
        40,
        40,
        80,
        80,
        160,
        160,
        320,
        320,
    ]
    x = torch.randn(8, 1, 40, 40)
    with torch.no_grad():
        a, b = narrow(x), wide(x)
    assert a.abs().max() > 1e-3  # the check below compares something
    assert torch.allclose(a, b, atol=1e-5)


def test_widened_copies_are_not_symmetric():
    """A copied channel's outgoing weights differ from its original's, so training can pull them apart."""
    wide = architectures.widen_cnn(_trained_looking_cnn(), (40, 64, 128, 256), seed=1)
    filters = wide.features[0][0].weight.flatten(1)
    copies = [(i, j) for i in range(32, 40) for j in range(32) if torch.equal(filters[i], filters[j])]
    assert len(copies) == 8  # each new first-layer channel copies one of the old 32 filters...
    nxt = wide.features[1][0].weight
    assert all(not torch.allclose(nxt[:, i], nxt[:, j]) for i, j in copies)  # ...but feeds the next layer apart


def test_widening_refuses_narrower_or_mismatched_widths():
    narrow = _trained_looking_cnn()
    for widths in [(16, 64, 128, 256), (40, 80, 160)]:
        with pytest.raises(ValueError, match="widths"):
            architectures.widen_cnn(narrow, widths)
