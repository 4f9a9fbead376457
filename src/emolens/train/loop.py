"""The training loop: checkpoint every epoch, resume, select on the validation split, log metrics as JSON lines."""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from emolens.train import architectures
from emolens.train.augment import augment, mix
from emolens.train.config import TrainConfig
from emolens.train.data import FaceSet, load_dataset, split_usage
from emolens.train.onnx_init import check_preprocessing, load_onnx_weights
from emolens.train.teachers import distilled, load_teachers, resolve_teacher, teacher_probs


@dataclass
class EpochReport:
    epoch: int
    train_loss: float
    val_accuracy: float
    val_loss: float
    lr: float
    seconds: float
    best: bool
    # With weight averaging on, val_accuracy is the averaged weights' and this is the trained weights' own.
    val_accuracy_raw: float | None = None
    # With `val_sets`, each validation set's accuracy (val_accuracy is then their mean).
    val_per_set: dict | None = None


# Training rows whose convolution outputs give the batch norms rebuilt around an ONNX start their statistics.
INIT_CALIBRATION_ROWS = 512


def _resolve(path: str, data_root: Path) -> Path:
    """A data path from a config: absolute, relative to the working folder if it is there, else to the data root.

    A Kaggle csv's ``:Usage`` suffix is kept."""
    p = Path(path)
    head, sep, _ = path.rpartition(".npz:")  # a cached source's split
    here = Path(head + ".npz") if sep else split_usage(p)[0]
    return p if p.is_absolute() or here.exists() else data_root / p


def _to_tensor(x: np.ndarray, size: int) -> torch.Tensor:
    t = torch.from_numpy(x).float().div_(255).unsqueeze(1)
    if x.shape[-1] != size:
        t = F.interpolate(t, size=(size, size), mode="bilinear", align_corners=False, antialias=True)
    return t


def center_crop(x: torch.Tensor, crop: int) -> torch.Tensor:
    h = x.shape[-1]
    o = (h - crop) // 2
    return x[..., o : o + crop, o : o + crop]


def build_model(cfg: TrainConfig, pretrained: bool = True) -> torch.nn.Module:
    """The config's network. ``pretrained=False`` skips loading a pretrained architecture's starting weights,
    for callers that load a checkpoint over them."""
    kw = {k: tuple(v) if isinstance(v, list) else v for k, v in cfg.arch_kwargs.items()}
    if cfg.arch in architectures.PRETRAINED:
        # A pretrained start must know how the inputs are normalised to feed its first layer what it saw.
        kw = {"mean": cfg.mean, "std": cfg.std, "pretrained": pretrained, **kw}
    model = architectures.build(cfg.arch, cfg.num_classes, **kw)
    if cfg.norm == "group":
        from emolens.train.dp import group_norm

        model = group_norm(model)
    return model


def _lr_at(cfg: TrainConfig, step: int, total: int, steps_per_epoch: int) -> float:
    if cfg.schedule == "onecycle":
        # One cycle (Smith & Topin): linear rise from lr/25 to lr over the first 30% of the steps, then cosine
        # decay to lr/10,000; warmup_epochs is not used.
        peak, start, end = max(1, int(0.3 * total)), cfg.lr / 25, cfg.lr / 1e4
        if step < peak:
            return start + (cfg.lr - start) * step / peak
        t = (step - peak) / max(1, total - peak)
        return end + (cfg.lr - end) * 0.5 * (1 + math.cos(math.pi * t))
    warm = int(cfg.warmup_epochs * steps_per_epoch)
    if step < warm:
        return cfg.lr * (step + 1) / warm
    t = (step - warm) / max(1, total - warm)
    return cfg.lr * 0.5 * (1 + math.cos(math.pi * t))


def _loss(cfg: TrainConfig, logits: torch.Tensor, target: torch.Tensor, weights: torch.Tensor | None) -> torch.Tensor:
    return _row_losses(cfg, logits, target, weights).mean()


def _row_losses(
    cfg: TrainConfig, logits: torch.Tensor, target: torch.Tensor, weights: torch.Tensor | None
) -> torch.Tensor:
    logp = F.log_softmax(logits, 1)
    if cfg.label_smoothing > 0:
        target = target * (1 - cfg.label_smoothing) + cfg.label_smoothing / target.shape[1]
    if cfg.loss == "focal":
        p = logp.exp()
        per = -(target * (1 - p) ** cfg.focal_gamma * logp).sum(1)
    else:  # ce with (possibly soft) targets; kl differs from it by a constant
        per = -(target * logp).sum(1)
    if weights is not None:
        per = per * (target @ weights)
    return per


def evaluate_logits(
    model: torch.nn.Module, x: torch.Tensor, crop: int, mean: float, std: float, batch: int = 512
) -> torch.Tensor:
    model.eval()
    outs = []
    with torch.inference_mode():
        for i in range(0, len(x), batch):
            xb = (center_crop(x[i : i + batch], crop) - mean) / std
            outs.append(model(xb.contiguous(memory_format=torch.channels_last)))
    return torch.cat(outs)


def load_onnx_start(model: torch.nn.Module, path: Path, x: torch.Tensor, cfg: TrainConfig) -> list[str]:
    """Load the exported `cnn` at ``path`` into ``model`` as a start: its inputs checked against ``cfg``'s crop and
    normalisation, its batch norms rebuilt from the first ``INIT_CALIBRATION_ROWS`` faces of ``x`` (at the
    config's input size, in [0, 1]). Returns the names of the tensors left at their initial values."""
    check_preprocessing(path, cfg.augment.crop, cfg.mean, cfg.std)
    calib = ((center_crop(x[:INIT_CALIBRATION_ROWS], cfg.augment.crop) - cfg.mean) / cfg.std).float()
    return load_onnx_weights(model, path, calib)


def _accuracy(logits: torch.Tensor, y: torch.Tensor) -> float:
    return float((logits.argmax(1) == y).float().mean())


class Trainer:
    """Trains one config into ``run_dir`` (``last.pt``, ``best.pt``, ``metrics.jsonl``, ``config.json``)."""

    def __init__(self, cfg: TrainConfig, run_dir: str | Path, data_root: str | Path) -> None:
        self.cfg = cfg
        self.run_dir = Path(run_dir)
        self.data_root = Path(data_root)

    def _load(self) -> tuple[FaceSet, FaceSet]:
        cfg = self.cfg
        detector = cfg.detector or None
        train = load_dataset(_resolve(cfg.train, self.data_root), cfg.labels, detector, cfg.ferplus_soft)
        val = load_dataset(_resolve(cfg.val, self.data_root), cfg.labels, detector)
        if cfg.limit_train:
            train = train.subset(np.arange(min(cfg.limit_train, len(train))))
        if cfg.limit_val:
            val = val.subset(np.arange(min(cfg.limit_val, len(val))))
        return train, val

    def run(
        self,
        on_epoch: Callable[[EpochReport], None] | None = None,
        max_epochs: int | None = None,
        on_step: Callable[[int, int, int], None] | None = None,
    ) -> list[EpochReport]:
        """Train from the last checkpoint (if any) to ``cfg.epochs``; ``on_step(epoch, step, steps_per_epoch)``
        follows each batch and ``on_epoch`` each validated epoch."""
        cfg = self.cfg
        torch.set_num_threads(cfg.threads)
        torch.manual_seed(cfg.seed)
        self.run_dir.mkdir(parents=True, exist_ok=True)
        (self.run_dir / "config.json").write_text(json.dumps(cfg.to_dict(), indent=2))
        teachers = load_teachers(cfg, self.run_dir)  # before the data, so a wrong teacher fails at once
        train, val = self._load()
        (self.run_dir / "data.json").write_text(
            json.dumps({"train": cfg.train, "train_images": len(train), "val": cfg.val, "val_images": len(val)}) + "\n"
        )
        xtr = _to_tensor(train.x, cfg.input_size)
        ttr = (
            torch.from_numpy(train.soft)
            if train.soft is not None
            else F.one_hot(torch.from_numpy(train.y), cfg.num_classes).float()
        )
        xva = _to_tensor(val.x, cfg.input_size)
        yva = torch.from_numpy(val.y)
        # More training sets, their rows after the main set's; each set's sampling weight (see source_balance).
        sizes = [len(xtr)]
        if cfg.extra_train:
            extra = [
                load_dataset(_resolve(s, self.data_root), cfg.labels, cfg.detector or None) for s in cfg.extra_train
            ]
            xtr = torch.cat([xtr, *(_to_tensor(e.x, cfg.input_size) for e in extra)])
            ttr = torch.cat([ttr, *(F.one_hot(torch.from_numpy(e.y), cfg.num_classes).float() for e in extra)])
            sizes += [len(e) for e in extra]
        row_weight = torch.cat([torch.full((n,), n**cfg.source_balance / n) for n in sizes]).double()
        val_sets = {cfg.val: (xva, yva)}
        for spec in cfg.val_sets:
            v = load_dataset(_resolve(spec, self.data_root), cfg.labels, cfg.detector or None)
            val_sets[spec] = (_to_tensor(v.x, cfg.input_size), torch.from_numpy(v.y))
        if cfg.extra_train or cfg.val_sets:
            (self.run_dir / "data.json").write_text(
                json.dumps(
                    {
                        "train": [cfg.train, *cfg.extra_train],
                        "train_images": sizes,
                        "val": list(val_sets),
                        "val_images": [len(v[1]) for v in val_sets.values()],
                    }
                )
                + "\n"
            )
        weights = None
        if cfg.class_weights:
            counts = ttr.sum(0)
            weights = (counts.sum() / (len(counts) * counts.clamp(min=1))).float()

        last = self.run_dir / "last.pt"
        model = build_model(cfg, pretrained=not last.exists()).to(memory_format=torch.channels_last)
        if cfg.optimizer == "adamw":
            opt: torch.optim.Optimizer = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
        else:
            decay = [p for p in model.parameters() if p.ndim > 1]
            no_decay = [p for p in model.parameters() if p.ndim <= 1]
            opt = torch.optim.SGD(
                [{"params": decay, "weight_decay": cfg.weight_decay}, {"params": no_decay, "weight_decay": 0.0}],
                lr=cfg.lr,
                momentum=0.9,
                nesterov=True,
            )
        # The average's first update copies the weights, so it can be made before they are loaded.
        ema = _averaged(model, cfg.ema_decay)
        private = None
        if cfg.dp_epsilon > 0:  # DP-SGD: Opacus' per-example clipping, noise and Poisson batches (train/dp.py)
            from emolens.train.dp import PrivateTraining

            private = PrivateTraining(cfg, len(xtr))
            model, opt = private.attach(model, opt)
        plain = model if private is None else model._module
        gen = torch.Generator().manual_seed(cfg.seed)
        start_epoch, best_acc = 0, -1.0
        if last.exists():
            state = torch.load(last, map_location="cpu", weights_only=False)
            model.load_state_dict(state["model"])
            # A run resumed with an average it did not keep before starts the average at its resumed weights.
            if ema is not None and "ema" in state:
                ema.load_state_dict(state["ema"])
            opt.load_state_dict(state["optimizer"])
            if private is not None:
                private.load_state_dict(state["dp"])
            gen.set_state(state["generator"])
            start_epoch, best_acc = state["epoch"] + 1, state["best_acc"]
        elif cfg.init_from:
            init: dict = {"init_from": cfg.init_from}
            if _is_checkpoint(cfg.init_from):
                start = torch.load(cfg.init_from, map_location="cpu", weights_only=False)["model"]
                init["left_at_initialisation"] = load_matching(plain, start)
            else:  # an exported ONNX file or a shipped model's name
                path, init["sha256"] = resolve_teacher(cfg.init_from, field="init_from")
                init["left_at_initialisation"] = load_onnx_start(model, path, xtr, cfg)
            (self.run_dir / "init.json").write_text(json.dumps(init, indent=2) + "\n")

        epoch_rows = cfg.epoch_size or len(xtr)
        steps_per_epoch = math.ceil(epoch_rows / cfg.batch_size) if private is None else private.steps_per_epoch
        total = steps_per_epoch * cfg.epochs
        reports: list[EpochReport] = []
        end_epoch = cfg.epochs if max_epochs is None else min(cfg.epochs, start_epoch + max_epochs)
        for epoch in range(start_epoch, end_epoch):
            t0 = time.time()
            model.train()
            if cfg.extra_train or cfg.epoch_size:
                perm = torch.multinomial(row_weight, epoch_rows, replacement=True, generator=gen)
            else:
                perm = torch.randperm(len(xtr), generator=gen)
            loss_sum, seen = 0.0, 0
            batches = (perm[b * cfg.batch_size : (b + 1) * cfg.batch_size] for b in range(steps_per_epoch))
            for b, idx in enumerate(batches if private is None else private.batches()):
                step = epoch * steps_per_epoch + b
                lr = _lr_at(cfg, step, total, steps_per_epoch)
                for g in opt.param_groups:
                    g["lr"] = lr
                xb = augment(xtr[idx], cfg.augment, gen)
                tb = ttr[idx]
                xb, tb = mix(xb, tb, cfg.augment, gen)
                xin = ((xb - cfg.mean) / cfg.std).contiguous(memory_format=torch.channels_last)
                # distill_rows "main": only the rows of `train` are taught (idx counts them first).
                taught = idx < sizes[0] if cfg.distill_rows == "main" else None
                soft_t = None
                if teachers:
                    soft_t = teacher_probs(teachers, xin if taught is None else xin[taught], cfg.distill_temperature)

                def batch_loss(xin=xin, tb=tb, soft_t=soft_t, taught=taught) -> torch.Tensor:
                    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=cfg.bf16):
                        logits = model(xin)
                    logits = logits.float()
                    per_row = _row_losses(cfg, logits, tb, weights)
                    return per_row.mean() if soft_t is None else distilled(per_row, logits, soft_t, taught, cfg)

                loss = batch_loss()
                opt.zero_grad(set_to_none=True)
                loss.backward()
                if cfg.sam_rho > 0:
                    sharpness_aware_gradient(model, batch_loss, cfg.sam_rho)
                opt.step()
                if ema is not None:
                    ema.update_parameters(model)
                loss_sum += float(loss.detach()) * len(idx)
                seen += len(idx)
                if on_step is not None:
                    on_step(epoch, b + 1, steps_per_epoch)
            crop = cfg.augment.crop
            raw_acc = None if ema is None else _accuracy(evaluate_logits(model, xva, crop, cfg.mean, cfg.std), yva)
            selected = plain if ema is None else ema.module
            logits = evaluate_logits(selected, xva, crop, cfg.mean, cfg.std)
            val_loss = float(F.cross_entropy(logits, yva))
            acc = _accuracy(logits, yva)
            per_set = None
            if cfg.val_sets:
                per_set = {cfg.val: acc}
                for spec in cfg.val_sets:
                    xv, yv = val_sets[spec]
                    per_set[spec] = _accuracy(evaluate_logits(selected, xv, crop, cfg.mean, cfg.std), yv)
                acc = float(np.mean(list(per_set.values())))
            is_best = acc > best_acc
            best_acc = max(best_acc, acc)
            state = {
                "model": model.state_dict(),
                "optimizer": opt.state_dict(),
                "generator": gen.get_state(),
                "epoch": epoch,
                "best_acc": best_acc,
                "config": cfg.to_dict(),
            }
            if ema is not None:
                state["ema"] = ema.state_dict()
            if private is not None:
                state["dp"] = private.state_dict()
                private.write(self.run_dir)
            torch.save(state, self.run_dir / "last.tmp")
            (self.run_dir / "last.tmp").replace(last)
            if is_best:
                torch.save(
                    {"model": selected.state_dict(), "epoch": epoch, "val_accuracy": acc, "config": cfg.to_dict()},
                    self.run_dir / "best.pt",
                )
            rep = EpochReport(
                epoch, loss_sum / max(seen, 1), acc, val_loss, lr, time.time() - t0, is_best, raw_acc, per_set
            )
            with open(self.run_dir / "metrics.jsonl", "a") as f:
                f.write(json.dumps({k: v for k, v in rep.__dict__.items() if v is not None}) + "\n")
            reports.append(rep)
            if on_epoch:
                on_epoch(rep)
        return reports


def sharpness_aware_gradient(model: torch.nn.Module, batch_loss: Callable[[], torch.Tensor], rho: float) -> None:
    """Replace ``model``'s gradients with those at the worst weights within ``rho`` of the current ones, to first
    order (SAM: Foret et al., 2021): step the weights by ``rho`` along the normalised gradient, take the gradient of
    ``batch_loss`` there, and put the weights back exactly. The second pass leaves the batch-norm running
    statistics as they were, so each batch counts once in them."""
    params = [p for p in model.parameters() if p.grad is not None]
    if not params:
        return
    norm = torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(p.grad) for p in params]))
    with torch.no_grad():
        here = [p.detach().clone() for p in params]
        for p in params:
            p.add_(p.grad, alpha=rho / float(norm + 1e-12))
    norms = [m for m in model.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    momenta = [m.momentum for m in norms]
    for m in norms:
        m.momentum = 0.0  # running = (1 - 0) * running + 0 * batch
    try:
        model.zero_grad(set_to_none=True)
        batch_loss().backward()
    finally:
        for m, momentum in zip(norms, momenta, strict=True):
            m.momentum = momentum
        with torch.no_grad():
            for p, w in zip(params, here, strict=True):
                p.copy_(w)


def _averaged(model: torch.nn.Module, decay: float) -> torch.optim.swa_utils.AveragedModel | None:
    """An exponential moving average of ``model``'s weights and batch-norm statistics, updated after each step
    (``decay`` 0 turns it off)."""
    if decay <= 0:
        return None
    from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

    return AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(decay), use_buffers=True)


def _is_checkpoint(spec: str) -> bool:
    """A training checkpoint (``best.pt``, ``last.pt``), as opposed to an ONNX export or a shipped model's name."""
    from emolens.errors import ConfigError

    if Path(spec).suffix not in (".pt", ".pth"):
        return False
    if not Path(spec).is_file():
        raise ConfigError(f"init_from: no checkpoint at {spec}")
    return True


def load_matching(model: torch.nn.Module, weights: dict[str, torch.Tensor]) -> list[str]:
    """Copy every tensor of ``weights`` whose name and shape match one of ``model``'s; return the names of the
    model's tensors left as they were (a new head when the class count differs, say)."""
    own = model.state_dict()
    take = {k: v for k, v in weights.items() if k in own and own[k].shape == v.shape}
    model.load_state_dict(take, strict=False)
    return sorted(k for k in own if k not in take)
