"""Differentially private training (DP-SGD) through Opacus, and the GroupNorm swap that it and federated training need.

DP-SGD (Abadi et al., 2016) clips each example's gradient to an L2 norm ``C`` and adds Gaussian noise of standard
deviation ``σC`` to the sum of a Poisson-sampled batch; an accountant turns the noise multiplier ``σ``, the
sampling rate and the number of steps into the (ε, δ) the run spends. Opacus does all three: its
``GradSampleModule`` computes the per-example gradients, its ``DPOptimizer`` clips and adds noise, its
``DPDataLoader`` samples each example independently with probability ``q = batch / N`` (the sampling the
accountant assumes) and its accountant (RDP by default here, or PRV) picks ``σ`` so that the planned epochs spend
exactly the target ε.

Batch norm mixes the examples of a batch, so one example's gradient depends on the others and per-example
clipping would not bound its influence: DP runs need ``norm="group"`` (every BatchNorm2d becomes a GroupNorm),
and MixUp/CutMix (which mix two people's faces into one example), distillation and sharpness-aware steps are
refused.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import torch
from torch import nn

from emolens.errors import ConfigError, MissingExtraError

ACCOUNTANTS = ("rdp", "prv")


def group_norm(model: nn.Module, max_groups: int = 32) -> nn.Module:
    """Replace every ``BatchNorm2d`` of ``model`` by a ``GroupNorm`` over the same channels (``min(32, C)`` groups,
    as Opacus' ``ModuleValidator.fix`` does), and make ReLUs out of place (Opacus' backward hooks need the
    module outputs unchanged). Works in place and returns ``model``."""
    for name, child in list(model.named_children()):
        if isinstance(child, nn.BatchNorm2d):
            c = child.num_features
            groups = math.gcd(min(max_groups, c), c)
            setattr(model, name, nn.GroupNorm(groups, c, affine=True))
        elif isinstance(child, nn.ReLU):
            setattr(model, name, nn.ReLU(inplace=False))
        else:
            group_norm(child, max_groups)
    return model


def check_config(cfg: Any) -> None:
    """Refuse settings that break per-example privacy or that Opacus cannot train (one line each)."""
    if cfg.dp_epsilon <= 0:
        return
    problems = []
    if cfg.norm != "group":
        problems.append('norm must be "group" (batch norm mixes the examples of a batch)')
    if cfg.augment.mixup_alpha > 0 or cfg.augment.cutmix_alpha > 0:
        problems.append("MixUp/CutMix mix two people's faces into one example")
    if cfg.teacher and cfg.distill_weight > 0:
        problems.append("distillation from teachers is not covered by the accountant")
    if cfg.sam_rho > 0:
        problems.append("sharpness-aware steps take a second, unclipped gradient")
    if cfg.bf16:
        problems.append("bf16 autocast is not supported by the per-example gradients")
    if not 0 < cfg.dp_delta < 1:
        problems.append("dp_delta must be between 0 and 1")
    if cfg.dp_max_grad_norm <= 0:
        problems.append("dp_max_grad_norm must be positive")
    if cfg.dp_accountant not in ACCOUNTANTS:
        problems.append(f"dp_accountant must be one of {', '.join(ACCOUNTANTS)}")
    if problems:
        raise ConfigError("DP-SGD: " + "; ".join(problems))


def _opacus():
    try:
        import opacus
    except ImportError:
        raise MissingExtraError("opacus", "privacy") from None
    return opacus


class PrivateTraining:
    """One run's DP-SGD: wraps the model and optimiser with Opacus and samples the batches.

    Parameters
    ----------
    cfg:
        The run's ``TrainConfig`` (``dp_epsilon`` > 0, ``dp_delta``, ``dp_max_grad_norm``, ``dp_accountant``,
        ``batch_size`` as the expected batch, ``epochs`` as the planned epochs).
    n:
        Training examples (one per person-image; FER2013 has no person ids, so one image is one "person").
    """

    def __init__(self, cfg: Any, n: int) -> None:
        check_config(cfg)
        self.cfg = cfg
        self.n = n
        opacus = _opacus()
        self.engine = opacus.PrivacyEngine(accountant=cfg.dp_accountant)
        self.sample_rate = min(1.0, cfg.batch_size / n)
        self.loader: Any = None

    def attach(self, model: nn.Module, optimizer: torch.optim.Optimizer) -> tuple[nn.Module, torch.optim.Optimizer]:
        """Opacus' private model and optimiser, with the noise multiplier that spends ``dp_epsilon`` over the
        planned epochs."""
        from opacus.validators import ModuleValidator

        errors = ModuleValidator.validate(model, strict=False)
        if errors:
            raise ConfigError(f"DP-SGD: the network has layers Opacus cannot train: {errors[0]}")
        cfg = self.cfg
        indices = torch.utils.data.TensorDataset(torch.arange(self.n))
        loader = torch.utils.data.DataLoader(indices, batch_size=cfg.batch_size)
        model, optimizer, self.loader = self.engine.make_private_with_epsilon(
            module=model,
            optimizer=optimizer,
            data_loader=loader,
            target_epsilon=cfg.dp_epsilon,
            target_delta=cfg.dp_delta,
            epochs=cfg.epochs,
            max_grad_norm=cfg.dp_max_grad_norm,
            poisson_sampling=True,
        )
        self.noise_multiplier = float(optimizer.noise_multiplier)
        return model, optimizer

    @property
    def steps_per_epoch(self) -> int:
        return len(self.loader)

    def batches(self):
        """One epoch of Poisson-sampled index batches (each example in each batch with probability ``q``)."""
        for (idx,) in self.loader:
            if len(idx):
                yield idx

    def spent(self) -> float:
        """The ε spent so far at the run's δ, by the accountant."""
        return float(self.engine.get_epsilon(self.cfg.dp_delta)) if len(self.engine.accountant) else 0.0

    def record(self) -> dict:
        """What the manifest records: the guarantee, how it was accounted and how the data were sampled."""
        cfg = self.cfg
        return {
            "mechanism": "DP-SGD (Opacus): per-example gradient clipping and Gaussian noise",
            "epsilon_target": cfg.dp_epsilon,
            "epsilon_spent": round(self.spent(), 4),
            "delta": cfg.dp_delta,
            "accountant": cfg.dp_accountant,
            "noise_multiplier": round(self.noise_multiplier, 5),
            "max_grad_norm": cfg.dp_max_grad_norm,
            "sampling": "Poisson",
            "sample_rate": self.sample_rate,
            "expected_batch_size": cfg.batch_size,
            "steps": int(sum(h[-1] for h in self.engine.accountant.history)),
            "examples": self.n,
            "unit": "one training image (FER2013 gives no person identities)",
            "opacus": _opacus().__version__,
        }

    def state_dict(self) -> dict:
        return {"history": list(self.engine.accountant.history)}

    def load_state_dict(self, state: dict) -> None:
        self.engine.accountant.history = [tuple(h) for h in state["history"]]

    def write(self, run_dir: Path) -> None:
        (Path(run_dir) / "dp.json").write_text(json.dumps(self.record(), indent=2) + "\n")


def read_record(run_dir: Path) -> dict:
    """The ``dp.json`` a private run wrote (empty for other runs)."""
    path = Path(run_dir) / "dp.json"
    return json.loads(path.read_text()) if path.exists() else {}
