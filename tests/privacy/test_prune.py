"""Structured pruning: whole channels go (the shapes shrink, the MACs fall), the pruned network is still a `cnn`,
and `emolens prune` writes an ONNX model whose manifest says what it was pruned from."""

from __future__ import annotations

import json

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("torch_pruning")

from emolens.train.config import preset  # noqa: E402
from emolens.train.loop import build_model  # noqa: E402
from emolens.train.prune import conv_widths, count, prune_channels  # noqa: E402


def test_pruning_removes_channels_not_masks() -> None:
    net = build_model(preset("fer2013-cnn"))
    x = torch.randn(4, 1, 40, 40)
    macs0, params0 = count(net, 40)
    prune_channels(net, 0.5, 40)
    macs1, params1 = count(net, 40)
    assert conv_widths(net) == [16, 32, 64, 128]
    assert all(m.weight.shape[0] == m.out_channels for m in net.modules() if isinstance(m, torch.nn.Conv2d))
    assert 0.2 < macs1 / macs0 < 0.3 and params1 < 0.5 * params0  # about (1 - 0.5)^2 of the convolutions' work
    assert net.eval()(x).shape == (4, 7)
    # the pruned network is a `cnn` of those widths: its weights load into one built from the config
    rebuilt = build_model(preset("fer2013-cnn", arch_kwargs={"widths": conv_widths(net)}))
    rebuilt.load_state_dict(net.state_dict())
    assert torch.allclose(rebuilt.eval()(x), net(x))


def test_prune_ratio_out_of_range() -> None:
    from emolens.errors import ConfigError

    with pytest.raises(ConfigError, match="ratio"):
        prune_channels(build_model(preset("small-test")), 1.0, 40)


def test_prune_cli_on_the_shipped_model(tmp_path, data_dir) -> None:
    from typer.testing import CliRunner

    from emolens.cli.main import app
    from emolens.registry import get_model

    r = CliRunner().invoke(
        app,
        [
            "prune",
            "emotion-fer2013",
            "--ratio",
            "0.5",
            "--finetune",
            "0",
            "--no-int8",
            "--out",
            str(tmp_path),
            "--run-dir",
            str(tmp_path / "run"),
            "--data",
            str(data_dir),
            "--threads",
            "1",
        ],
    )
    assert r.exit_code == 0, r.output
    manifest = json.loads((tmp_path / "emotion-fer2013-pruned-50.json").read_text())
    rec = manifest["pruning"]
    assert rec["pruned_from_sha256"] == get_model("emotion-fer2013", task="emotion").manifest.sha256
    assert rec["widths"] == [16, 32, 64, 128] and rec["parameters_after"] < 0.35 * rec["parameters_before"]
    assert manifest["parameters"] == rec["parameters_after"]
    shipped = (get_model("emotion-fer2013", task="emotion").path).stat().st_size
    assert (tmp_path / "emotion-fer2013-pruned-50.onnx").stat().st_size < 0.4 * shipped
