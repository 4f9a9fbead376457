"""Training can start from an exported ONNX model: the shipped models' folded batch norms are rebuilt."""

import copy
import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

MODELS = Path(__file__).parents[2] / "src" / "emolens" / "models"


@pytest.fixture(scope="module")
def faces(data_dir):
    """Normalised 40 x 40 FER2013 training crops: the first 256 calibrate, the next 128 check."""
    from emolens.train.data import load_npz
    from emolens.train.loop import _to_tensor, center_crop

    x = _to_tensor(load_npz(data_dir / "fer2013" / "train.npz", "fer2013").x[:384], 48)
    x = ((center_crop(x, 40) - 0.5) / 0.25).float()
    return x[:256], x[256:]


def _cnn(labels="fer2013", **kw):
    from emolens.train.config import preset
    from emolens.train.loop import build_model

    return build_model(preset("fer2013-cnn", labels=labels, **kw))


def _onnx_logits(path, x):
    import onnxruntime as ort

    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return sess.run(None, {sess.get_inputs()[0].name: x.numpy()})[0]


def test_a_shipped_model_loads_into_a_cnn_and_gives_its_logits(faces):
    from emolens.train.onnx_init import load_onnx_weights

    calib, held_out = faces
    model = _cnn()
    assert load_onnx_weights(model, MODELS / "emotion-fer2013.onnx", calib) == []
    model.eval()
    with torch.no_grad():
        got = model(held_out).numpy()
    want = _onnx_logits(MODELS / "emotion-fer2013.onnx", held_out)
    np.testing.assert_allclose(got, want, atol=1e-3)
    assert (got.argmax(1) == want.argmax(1)).all()


def test_rebuilt_batch_norms_hold_the_calibration_statistics(faces):
    """In training mode (dropout aside) each batch norm normalises by the batch's own statistics; on the
    calibration batch those are the ones it was given, so the training-mode function is the exported one."""
    from emolens.train.onnx_init import load_onnx_weights

    calib, _ = faces
    model = _cnn()
    load_onnx_weights(model, MODELS / "emotion-fer2013.onnx", calib)
    model.eval()
    with torch.no_grad():
        exported = model(calib)
    trained = copy.deepcopy(model).train()
    for m in trained.modules():
        if isinstance(m, torch.nn.Dropout):
            m.eval()
    with torch.no_grad():
        batch_mode = trained(calib)
    assert float((batch_mode - exported).abs().max()) < 1e-2
    bns = [m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    assert len(bns) == 8 and all(float(bn.running_var.min()) > 0 for bn in bns)
    # Not left as identities: the statistics are the convolutions' own.
    assert all(float((bn.running_mean).abs().max()) > 1e-3 for bn in bns)


def test_another_class_count_keeps_all_but_the_last_layer(faces):
    from emolens.train.onnx_init import load_onnx_weights

    calib, _ = faces
    model = _cnn(labels="ferplus")  # 8 classes from a 7-class model: a new head, the rest loaded
    assert load_onnx_weights(model, MODELS / "emotion-fer2013.onnx", calib) == ["head.6.weight", "head.6.bias"]
    seven = _cnn()
    load_onnx_weights(seven, MODELS / "emotion-fer2013.onnx", calib)
    assert torch.equal(model.head[3].weight, seven.head[3].weight)
    assert not torch.equal(model.head[6].weight[:7], seven.head[6].weight)


def test_a_graph_of_another_shape_or_kind_is_refused(faces):
    from emolens.errors import ConfigError
    from emolens.train.onnx_init import load_onnx_weights

    calib, _ = faces
    with pytest.raises(ConfigError, match="widths"):  # the wide FER+ network into the default widths
        load_onnx_weights(_cnn(labels="ferplus"), MODELS / "emotion-ferplus.onnx", calib)
    with pytest.raises(ConfigError, match="DequantizeLinear"):  # INT8 weights are not a start
        load_onnx_weights(_cnn(), MODELS / "emotion-fer2013-int8.onnx", calib)
    wide = _cnn(labels="ferplus", arch_kwargs={"widths": [40, 80, 160, 320]})
    assert load_onnx_weights(wide, MODELS / "emotion-ferplus.onnx", calib) == []


def test_training_starts_from_a_shipped_model_by_name(tmp_path, data_dir):
    """A run named after a shipped model starts at its accuracy (the rate is ~0, so only the batch norms'
    running statistics move) and records the file it started from."""
    from emolens.errors import ConfigError
    from emolens.train.config import preset
    from emolens.train.export import export_run
    from emolens.train.loop import Trainer

    widths = {"widths": [32, 64, 128, 256]}
    cfg = preset("small-test", limit_train=192, threads=1, arch_kwargs=widths, init_from="emotion-fer2013", lr=1e-9)
    report = Trainer(cfg, tmp_path / "ft", data_dir).run()[0]
    scratch = Trainer(preset("small-test", limit_train=192, threads=1, arch_kwargs=widths), tmp_path / "s", data_dir)
    assert report.val_accuracy > 0.6 > scratch.run()[0].val_accuracy + 0.2
    init = json.loads((tmp_path / "ft" / "init.json").read_text())
    manifest = json.loads((MODELS / "emotion-fer2013.json").read_text())
    assert init["sha256"] == manifest["sha256"] and init["left_at_initialisation"] == []
    export_run(tmp_path / "ft", "ft", tmp_path / "out", data_dir)
    training = json.loads((tmp_path / "out" / "ft.json").read_text())["training"]
    assert training["init_from"] == "emotion-fer2013" and training["init_sha256"] == manifest["sha256"]

    crop44 = dataclasses.replace(cfg.augment, crop=44)
    with pytest.raises(ConfigError, match="input_size 40"):  # the model saw 40 x 40 crops
        Trainer(dataclasses.replace(cfg, limit_train=64, augment=crop44), tmp_path / "crop", data_dir).run()
    with pytest.raises(ConfigError, match="no checkpoint"):
        Trainer(dataclasses.replace(cfg, init_from=str(tmp_path / "none.pt")), tmp_path / "x", data_dir).run()
