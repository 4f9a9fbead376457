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
            "--output",
            str(tmp_path),
            "--run-dir",
            str(tmp_path / "run"),
            "--data",
            str(data_dir),
            "--threads",
            "1",
            "--recipe",  # FER2013 alone: the shipped model's own recipe reads cached sets a clean clone lacks
            "fer2013-cnn",
        ],
    )
    assert r.exit_code == 0, r.output
    manifest = json.loads((tmp_path / "emotion-fer2013-pruned-50.json").read_text())
    rec = manifest["pruning"]
    assert rec["pruned_from_sha256"] == get_model("emotion-fer2013", task="emotion").manifest.sha256
    assert rec["widths"] == [16, 32, 64, 128] and rec["parameters_after"] < 0.35 * rec["parameters_before"]
    assert rec["round_to"] == 8 and rec["finetune_recipe"] == "fer2013-cnn" and rec["finetune_recipe_from"] == "given"
    assert manifest["parameters"] == rec["parameters_after"]
    shipped = (get_model("emotion-fer2013", task="emotion").path).stat().st_size
    assert (tmp_path / "emotion-fer2013-pruned-50.onnx").stat().st_size < 0.4 * shipped


def test_uneven_pruning_rebuilds_as_a_cnn_of_conv_widths() -> None:
    """Keeping the first convolution whole leaves a stage's two convolutions with different widths; the `cnn`
    takes them as conv_widths and computes the same function."""
    from emolens.train.prune import arch_kwargs

    net = build_model(preset("fer2013-cnn"))
    prune_channels(net, 0.3, 40, keep_first=True)
    kw = arch_kwargs(net)
    assert kw["conv_widths"][0] == 32 and kw["conv_widths"][1] < 32  # the first kept whole, its partner pruned
    rebuilt = build_model(preset("fer2013-cnn", arch_kwargs=kw))
    rebuilt.load_state_dict(net.state_dict())
    x = torch.randn(2, 1, 40, 40)
    assert torch.allclose(rebuilt.eval()(x), net.eval()(x))
    with pytest.raises(ValueError, match="two entries"):
        build_model(preset("fer2013-cnn", arch_kwargs={"conv_widths": [8, 8, 8]}))


def test_recalibrated_batch_norms_hold_the_statistics_of_their_inputs() -> None:
    from emolens.train.prune import recalibrate_batch_norms

    torch.manual_seed(0)
    net = build_model(preset("small-test"))
    x = torch.randn(300, 1, 40, 40) * 3 + 2
    bn = net.features[0][1]
    bn.running_mean.fill_(-50.0)
    recalibrate_batch_norms(net, x, batch=100)
    with torch.no_grad():
        out = net.features[0][0](x).unflatten(0, (3, 100))  # the first convolution's outputs, in the 3 batches
    # a plain average over the batches (not a running one): each batch's mean and (unbiased) variance alike
    assert torch.allclose(bn.running_mean, out.mean((1, 3, 4)).mean(0), atol=1e-4)
    assert torch.allclose(bn.running_var, out.var((1, 3, 4)).mean(0), rtol=1e-3)
    assert bn.momentum == 0.1 and not net.training


def test_prune_finetune_settings_reach_the_training_config(tmp_path, data_dir) -> None:
    """--set fields (weight averaging, FER+ votes as soft targets) reach the fine-tuning config, an uneven pruning
    exports, and a field that defines the pruned network is refused with one line."""
    from typer.testing import CliRunner

    from emolens.cli.main import app

    common = ["--output", str(tmp_path), "--run-dir", str(tmp_path / "run"), "--data", str(data_dir)]
    common += ["--threads", "1", "--no-int8"]
    args = ["prune", "emotion-fer2013", "--ratio", "0.3", "--keep-first", "--importance", "bn", "--finetune", "1"]
    args += ["--limit-train", "256", "--recalibrate", "256", "--set", "ema_decay=0.99", "--set", "ferplus_soft=0.5"]
    args += ["--recipe", "fer2013-cnn"]  # FER2013 alone: the shipped model's own recipe reads the cached extra sets
    r = CliRunner().invoke(app, [*args, *common])
    assert r.exit_code == 0, r.output
    cfg = json.loads((tmp_path / "run" / "config.json").read_text())
    assert cfg["ema_decay"] == 0.99 and cfg["ferplus_soft"] == 0.5 and cfg["distill_weight"] == 0.5
    assert len(cfg["arch_kwargs"]["conv_widths"]) == 8 and cfg["arch_kwargs"]["conv_widths"][0] == 32
    rec = json.loads((tmp_path / "emotion-fer2013-pruned-30.json").read_text())["pruning"]
    assert rec["importance"] == "bn" and rec["keep_first"] and rec["finetune_overrides"]["ema_decay"] == 0.99
    assert 0.4 < rec["public_test_accuracy_before_finetune"] <= 1.0  # chance is 0.25, the unpruned 0.70
    bad = CliRunner().invoke(app, ["prune", "emotion-fer2013", "--set", "arch=resnet", *common])
    assert bad.exit_code != 0 and "cannot change arch" in bad.output
    bad = CliRunner().invoke(app, ["prune", "emotion-fer2013", "--recipe", "fer2013-cnnn", *common])
    assert bad.exit_code != 0 and "not a training preset" in bad.output


def test_rounded_pruning_keeps_multiples_of_eight() -> None:
    """Uniform pruning with round_to keeps, in every layer, the multiple nearest to (1 - ratio) of its channels:
    ONNX Runtime's blocked layout works on 8 channels at a time on AVX2, so the removed channels save time."""
    from emolens.train.prune import kept_channels

    assert [kept_channels(c, 0.3, 8) for c in (32, 64, 128, 256)] == [24, 48, 88, 176]  # 336 = 0.7 * 480
    assert [kept_channels(c, 0.3) for c in (32, 64, 128, 256)] == [22, 44, 89, 179]
    assert kept_channels(8, 0.9, 8) == 8 and kept_channels(40, 0.3, 16) == 32  # never below one block
    for round_to, widths in ((8, [24, 48, 88, 176]), (1, [22, 44, 89, 179])):
        net = build_model(preset("fer2013-cnn"))
        prune_channels(net, 0.3, 40, round_to=round_to)
        assert conv_widths(net) == widths
    net = build_model(preset("fer2013-cnn"))
    prune_channels(net, 0.5, 40, global_pruning=True, round_to=8)
    assert all(m.out_channels % 8 == 0 for m in net.modules() if isinstance(m, torch.nn.Conv2d))


def test_a_recipe_whose_sets_are_missing_is_refused_in_one_line(tmp_path) -> None:
    from dataclasses import replace

    from emolens.errors import ConfigError
    from emolens.train.prune import check_sources

    cfg = replace(preset("fer2013-cnn-xsource2"), extra_train=("nowhere/expw.npz:train",))
    with pytest.raises(ConfigError, match=r"recipe fer2013-cnn$"):
        check_sources(cfg, tmp_path, "fer2013-cnn-xsource2")
    check_sources(preset("fer2013-cnn"), tmp_path, "fer2013-cnn")  # FER2013 alone reads no extra sets


def test_the_recipe_is_the_one_the_model_was_trained_by() -> None:
    """Without --recipe, the fine-tuning (and the export's temperature) follows the preset in the model's manifest:
    for the shipped default, the breadth recipe with its cached extra sources."""
    from emolens.errors import ConfigError
    from emolens.train.prune import manifest_of, recipe_of

    trained_by = manifest_of("emotion-fer2013")["training"]["config"]
    assert recipe_of(manifest_of("emotion-fer2013")) == (trained_by, "manifest") and preset(trained_by).val_sets
    assert recipe_of({"training": {"config": "made-elsewhere"}}) == ("fer2013-cnn", "default")
    assert recipe_of({}, "fer2013-cnn") == ("fer2013-cnn", "given")
    with pytest.raises(ConfigError, match="not a training preset"):
        recipe_of({}, "fer2013-cnnn")


def test_pruning_without_finetuning_still_needs_the_recipes_sets(tmp_path, data_dir, monkeypatch) -> None:
    """The export of a pruned model fits its temperature on the recipe's validation sets even with --finetune 0, so
    missing sets are refused in one line before any work, not after the pruning."""
    from emolens.errors import ConfigError
    from emolens.train.prune import FineTuning, PruneMethod, prune_model

    monkeypatch.chdir(tmp_path)  # relative cache paths resolve from here or the data root: from neither
    empty = tmp_path / "data"
    (empty / "fer2013").mkdir(parents=True)
    with pytest.raises(ConfigError, match="temperature"):
        prune_model("emotion-fer2013", PruneMethod(ratio=0.3), FineTuning(epochs=0), tmp_path / "run", empty)
    assert not (tmp_path / "run").exists()
