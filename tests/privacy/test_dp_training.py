"""DP-SGD through Opacus: the run spends the ε it was given (by Opacus' accountant), with Poisson sampling and
per-example clipping, resumes with its accountant, and the exported manifest records the guarantee."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("opacus")

from emolens.errors import ConfigError  # noqa: E402
from emolens.train.config import preset  # noqa: E402


def _cfg(**kw):
    return preset("small-test", **{"norm": "group", "dp_epsilon": 2.0, "threads": 1, **kw})


def test_group_norm_makes_the_cnn_trainable_by_opacus() -> None:
    from opacus.validators import ModuleValidator

    from emolens.train.loop import build_model

    plain = build_model(preset("small-test"))
    assert ModuleValidator.validate(plain, strict=False)  # batch norm: refused by Opacus
    swapped = build_model(preset("small-test", norm="group"))
    assert ModuleValidator.validate(swapped, strict=False) == []
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in swapped.modules())
    assert swapped(torch.zeros(2, 1, 40, 40)).shape == (2, 7)


@pytest.mark.parametrize(
    ("change", "words"),
    [
        ({"norm": "batch"}, "GroupNorm|norm must be"),
        ({"sam_rho": 0.05}, "sharpness"),
        ({"dp_delta": 0.0}, "dp_delta"),
    ],
)
def test_settings_that_break_per_example_privacy_are_refused(change, words) -> None:
    from emolens.train.dp import check_config

    with pytest.raises(ConfigError, match=words):
        check_config(_cfg(**change))
    cfg = _cfg()
    with pytest.raises(ConfigError, match="MixUp"):
        check_config(replace(cfg, augment=replace(cfg.augment, mixup_alpha=0.2)))


def test_dp_run_spends_its_epsilon_and_the_manifest_says_so(tmp_path, data_dir) -> None:
    from emolens.train.export import export_run
    from emolens.train.loop import Trainer

    run = tmp_path / "dp"
    cfg = _cfg(epochs=2)
    reports = Trainer(cfg, run, data_dir).run(max_epochs=1)
    assert len(reports) == 1
    half = json.loads((run / "dp.json").read_text())
    assert 0 < half["epsilon_spent"] < 2.0  # one of two planned epochs
    Trainer(cfg, run, data_dir).run()  # resumes: the accountant carries the first epoch's steps
    rec = json.loads((run / "dp.json").read_text())
    assert rec["accountant"] == "rdp" and rec["sampling"] == "Poisson" and rec["delta"] == 1e-5
    assert rec["sample_rate"] == pytest.approx(64 / 384) and rec["steps"] == 2 * round(384 / 64)
    assert 1.9 <= rec["epsilon_spent"] <= 2.0 + 1e-6 and rec["noise_multiplier"] > 0.5
    summary = export_run(run, "dp-small", tmp_path / "out", data_dir)
    manifest = json.loads((tmp_path / "out" / "dp-small.json").read_text())
    assert manifest["training"]["privacy"]["epsilon_spent"] == rec["epsilon_spent"]
    assert summary["parity_max_abs"] < 1e-3


def test_private_steps_clip_each_example() -> None:
    """Opacus' optimiser bounds each example's gradient: with no noise, one batch's update is at most lr * C."""
    from emolens.train.dp import PrivateTraining
    from emolens.train.loop import build_model

    cfg = _cfg(dp_max_grad_norm=0.01, batch_size=32)
    model = build_model(cfg)
    opt = torch.optim.SGD(model.parameters(), lr=1.0)
    private = PrivateTraining(cfg, 320)
    model, opt = private.attach(model, opt)
    opt.noise_multiplier = 0.0
    before = [p.detach().clone() for p in model.parameters()]
    x, y = torch.randn(32, 1, 40, 40) * 10, torch.randint(0, 7, (32,))
    torch.nn.functional.cross_entropy(model(x), y).backward()
    opt.step()
    step = torch.sqrt(sum(((p.detach() - b) ** 2).sum() for p, b in zip(model.parameters(), before, strict=True)))
    # the mean of 32 clipped gradients (each norm ≤ C) over the expected batch size has norm ≤ C * 32 / 32
    assert 0 < float(step) <= 0.01 * 32 / (cfg.batch_size) + 1e-6
