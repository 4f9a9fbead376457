"""Structured pruning of an exported `cnn`: whole channels removed with Torch-Pruning, then fine-tuned and exported.

The shipped models are ONNX only, so the network is first rebuilt in torch from the graph (``onnx_init``: the
folded batch norms are rebuilt around the convolutions). Torch-Pruning follows the dependency graph (a
convolution's output channels, its batch norm and the next layer's input channels go together) and removes the
``ratio`` of each convolution's channels with the smallest L2 norm; the shapes really shrink, so the exported
graph is smaller and faster, unlike a mask. The two dense layers of the head are kept, so the pruned network is
again a `cnn` with narrower ``widths``, which the training loop fine-tunes from a checkpoint and the exporter
writes as ONNX (and INT8) with a manifest that records what was pruned from what.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from emolens.errors import ConfigError, MissingExtraError


def _tp():
    try:
        import torch_pruning as tp
    except ImportError:
        raise MissingExtraError("torch-pruning", "privacy") from None
    return tp


def count(model: nn.Module, crop: int) -> tuple[int, int]:
    """Multiply-accumulates per face and parameters (Torch-Pruning's counter)."""
    macs, params = _tp().utils.count_ops_and_params(model.eval(), torch.zeros(1, 1, crop, crop))
    return int(macs), int(params)


#: Channel importance criteria (``--importance``): how Torch-Pruning ranks the channels of a layer.
IMPORTANCE = {
    "l2": "L2 norm of each channel's group of weights (the convolution's filter, its batch-norm terms and the next "
    "layer's inputs from it)",
    "l1": "L1 norm of each channel's group of weights",
    "bn": "the absolute batch-norm scale of the channel (network slimming; in a network rebuilt from an export, the "
    "spread of the channel's output)",
    "lamp": "layer-adaptive magnitude (LAMP): each weight's square over the sum of the larger ones in its layer",
    "fpgm": "distance from the layer's geometric median (FPGM): the filters the others can best stand in for go",
}


def _importance(name: str) -> Any:
    tp = _tp()
    if name == "l2":
        return tp.importance.MagnitudeImportance(p=2)
    if name == "l1":
        return tp.importance.MagnitudeImportance(p=1)
    if name == "bn":
        return tp.importance.BNScaleImportance()
    if name == "lamp":
        return tp.importance.LAMPImportance(p=2)
    if name == "fpgm":
        return tp.importance.FPGMImportance(p=2)
    raise ConfigError(f"--importance must be one of {', '.join(IMPORTANCE)}, not {name!r}")


def prune_channels(
    model: nn.Module,
    ratio: float,
    crop: int,
    importance: str = "l2",
    global_pruning: bool = False,
    keep_first: bool = False,
    round_to: int = 8,
) -> nn.Module:
    """Remove ``ratio`` of the channels of the convolutions of ``model`` (in place; returned), keeping the dense
    head. Channels are ranked by ``importance`` (a key of ``IMPORTANCE``); ``global_pruning`` ranks them across all
    layers at once (so some layers lose more than others) instead of removing ``ratio`` of each layer's;
    ``keep_first`` leaves the first convolution's output channels whole.

    ``round_to`` > 1 keeps a multiple of it in every convolution: the nearest to ``1 - ratio`` of the layer when
    pruning is uniform, the multiple below what the ranking keeps when it is global. ONNX Runtime runs convolutions
    in a blocked layout of 8 channels on AVX2 (16 on AVX-512); a layer of 45 channels is padded or falls out of it,
    so channels removed off the multiple save little time (see :func:`kept_channels`)."""
    if not 0 < ratio < 1:
        raise ConfigError(f"--ratio must be between 0 and 1, not {ratio}")
    if round_to < 1:
        raise ConfigError(f"--round-to must be 1 or more, not {round_to}")
    tp = _tp()
    model.eval()
    example = torch.zeros(1, 1, crop, crop)
    keep: list[nn.Module] = [m for m in model.modules() if isinstance(m, nn.Linear)]
    if keep_first:
        keep.append(next(m for m in model.modules() if isinstance(m, nn.Conv2d)))
    per_layer: dict[nn.Module, float] = {}
    before: dict[nn.Module, int] = {}
    if round_to > 1 and not global_pruning:
        for conv in (m for m in model.modules() if isinstance(m, nn.Conv2d) and m not in keep):
            c = before[conv] = conv.out_channels
            # a hair under the exact fraction, so that Torch-Pruning's int() of the channels kept lands on it
            per_layer[conv] = max(0.0, (c - kept_channels(c, ratio, round_to)) / c - 1e-6)
    pruner = tp.pruner.MetaPruner(
        model,
        example,
        importance=_importance(importance),
        pruning_ratio=ratio,
        pruning_ratio_dict=per_layer or None,
        ignored_layers=keep,
        global_pruning=global_pruning,
        round_to=round_to if round_to > 1 else None,
    )
    pruner.step()
    for conv, channels in before.items():  # Torch-Pruning's own rounding has changed across releases: check it
        want = kept_channels(channels, ratio, round_to)
        if conv.out_channels != want:
            raise ConfigError(f"pruning kept {conv.out_channels} of {channels} channels in a layer, not {want}")
    return model


def kept_channels(channels: int, ratio: float, round_to: int = 1) -> int:
    """How many of a convolution's ``channels`` uniform pruning by ``ratio`` keeps: the multiple of ``round_to``
    nearest to ``channels * (1 - ratio)``, at least ``round_to`` and at most ``channels`` (``round_to`` 1: the
    whole part of ``channels * (1 - ratio)``, as Torch-Pruning takes it)."""
    exact = channels * (1 - ratio)
    if round_to <= 1:
        return max(1, int(exact))
    return min(channels, max(round_to, round_to * round(exact / round_to)))


def recalibrate_batch_norms(model: nn.Module, x: torch.Tensor, batch: int = 256) -> None:
    """Re-estimate every batch norm's running statistics on the normalised inputs ``x`` (no gradient, no weight
    changes). Pruning leaves the next layers' statistics stale; refreshing them is how a pruned network's accuracy
    before fine-tuning is judged fairly (adaptive batch norm, Li et al. 2020, EagleEye)."""
    from torch.optim.swa_utils import update_bn  # a cumulative average over the batches, momenta restored

    update_bn((x[i : i + batch] for i in range(0, len(x), batch)), model)
    model.eval()


def conv_widths(model: nn.Module) -> list[int]:
    """The `cnn` widths of a (pruned) SimpleCNN: the output channels of each stage's convolutions."""
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    outs = [c.out_channels for c in convs]
    pairs = [outs[i : i + 2] for i in range(0, len(outs), 2)]
    if any(len(p) != 2 or p[0] != p[1] for p in pairs):
        raise ConfigError(f"the pruned stages have unequal convolutions {outs}; not a `cnn` any more")
    return [p[0] for p in pairs]


def arch_kwargs(model: nn.Module) -> dict:
    """The `cnn` arch_kwargs that rebuild a (pruned) SimpleCNN: ``widths`` when each stage's two convolutions kept
    as many channels, else ``conv_widths`` (one entry a convolution)."""
    outs = [m.out_channels for m in model.modules() if isinstance(m, nn.Conv2d)]
    if len(outs) % 2:
        raise ConfigError(f"a `cnn` has two convolutions a stage, this network {len(outs)}")
    if outs[::2] == outs[1::2]:
        return {"widths": outs[::2]}
    return {"conv_widths": outs}


@dataclass
class Rebuilt:
    """A shipped (or exported) `cnn` rebuilt in torch, with the config that describes its inputs."""

    net: nn.Module
    cfg: Any  # TrainConfig
    path: Path
    digest: str
    crop: int
    train_x: torch.Tensor  # the Training split at the config's input size, in [0, 1]
    recipe: str  # the preset the config was built from


def rebuild(model: str, data_root: str | Path, threads: int = 2, recipe: str | None = None) -> Rebuilt:
    """Rebuild ``model`` (a shipped `cnn` name or an ONNX export) in torch from its graph, with the training config
    its fine-tuning starts from: the preset ``recipe``, else the one its manifest says it was trained with (so a
    model trained on several sources is fine-tuned on them again), else ``fer2013-cnn``."""
    from emolens.train.config import preset
    from emolens.train.data import load_dataset
    from emolens.train.loop import _resolve, _to_tensor, build_model, load_onnx_start
    from emolens.train.teachers import resolve_teacher

    torch.set_num_threads(threads)
    path, digest = resolve_teacher(model, field="model")
    manifest = manifest_of(model)
    pre = manifest.get("preprocessing", {})
    crop = int(pre.get("input_size", 40))
    labels = "ferplus" if len(manifest.get("classes", [])) == 8 else "fer2013"
    base = preset(recipe_of(manifest, recipe)[0])
    cfg = replace(
        base,
        name=f"prune-{Path(str(model)).stem}",
        labels=labels,
        augment=replace(base.augment, crop=crop),
        mean=float(pre.get("mean", base.mean)),
        std=float(pre.get("std", base.std)),
        threads=threads,
    )
    train = load_dataset(_resolve(cfg.train, Path(data_root)), cfg.labels)
    x = _to_tensor(train.x, cfg.input_size)
    net = build_model(cfg, pretrained=False)
    load_onnx_start(net, path, x, cfg)
    return Rebuilt(net, cfg, path, digest, crop, x, base.name)


def manifest_of(model: str) -> dict:
    """The manifest beside ``model`` (a shipped name or an ONNX export), or {} when it has none."""
    from emolens.train.teachers import resolve_teacher

    path = resolve_teacher(model, field="model")[0].with_suffix(".json")
    return json.loads(path.read_text()) if path.is_file() else {}


def recipe_of(manifest: dict, recipe: str | None = None) -> tuple[str, str]:
    """The training preset a fine-tuning starts from, and where that choice came from: ``recipe`` when given
    ("given"), else the preset the model's ``manifest`` says it was trained with ("manifest"), else
    ``fer2013-cnn`` ("default": an export whose manifest names no known preset)."""
    from emolens.train.config import PRESETS

    if recipe is not None:
        if recipe not in PRESETS:
            raise ConfigError(f"recipe {recipe!r} is not a training preset; known: {', '.join(sorted(PRESETS))}")
        return recipe, "given"
    trained_with = manifest.get("training", {}).get("config")
    return (trained_with, "manifest") if trained_with in PRESETS else ("fer2013-cnn", "default")


def check_sources(cfg: Any, data_root: Path, recipe: str) -> None:
    """Refuse, in one line, a recipe that reads training or validation sets that are not here."""
    from emolens.train.loop import _resolve

    for spec in (*cfg.extra_train, *cfg.val_sets):
        path = _resolve(spec, data_root)
        head, sep, _ = str(path).rpartition(".npz:")
        if not (Path(head + ".npz") if sep else path).exists():
            raise ConfigError(
                f"the recipe {recipe} reads {spec} (to fine-tune, and to fit the export's temperature and INT8 "
                f"ranges), which is not under {data_root}: build it with research/cache_faces_extra.py, or use "
                "FER2013 alone with recipe fer2013-cnn"
            )


def inputs(rebuilt: Rebuilt, x: torch.Tensor) -> torch.Tensor:
    """Faces at the config's input size, centre-cropped and normalised as the network takes them."""
    from emolens.train.loop import center_crop

    return ((center_crop(x, rebuilt.crop) - rebuilt.cfg.mean) / rebuilt.cfg.std).float().contiguous()


def val_accuracy(net: nn.Module, rebuilt: Rebuilt, data_root: str | Path) -> float:
    """Top-1 accuracy of ``net`` on the config's validation split (FER2013 PublicTest)."""
    from emolens.train.data import load_dataset
    from emolens.train.loop import _accuracy, _resolve, _to_tensor, evaluate_logits

    cfg = rebuilt.cfg
    val = load_dataset(_resolve(cfg.val, Path(data_root)), cfg.labels)
    logits = evaluate_logits(net, _to_tensor(val.x, cfg.input_size), rebuilt.crop, cfg.mean, cfg.std)
    return _accuracy(logits, torch.from_numpy(val.y))


#: Fine-tuning config fields that ``overrides`` may not set: they describe the pruned network and its start.
_FIXED = ("arch", "arch_kwargs", "labels", "init_from", "input_size", "mean", "std")


@dataclass(frozen=True)
class PruneMethod:
    """Which channels go: ``ratio`` of them, ranked by ``importance`` (see ``IMPORTANCE``) within each layer or
    across all layers at once (``global_pruning``), the first convolution optionally kept whole (``keep_first``);
    then the batch norms' statistics are re-estimated on ``recalibrate_rows`` Training rows (0: not). Each layer
    keeps a multiple of ``round_to`` channels (1: any number), what makes the removed channels save time."""

    ratio: float = 0.3
    importance: str = "l2"
    global_pruning: bool = False
    keep_first: bool = False
    recalibrate_rows: int = 2048
    round_to: int = 8


@dataclass(frozen=True)
class FineTuning:
    """How the pruned network is fine-tuned: ``epochs`` (0: none) of a cosine from ``lr`` over the first
    ``limit_train`` Training rows (0: all), taught by the unpruned model (``distill_weight`` of the loss is the KL
    divergence to its softened outputs, 0 turns it off), the usual way to recover what pruning lost;
    ``recipe`` is the training preset whose data, sampling and augmentation it uses (None: the one the model was
    trained with, see :func:`rebuild`); ``overrides`` sets other fields of that config (``ema_decay``,
    ``ferplus_soft``, ``seed``, ...)."""

    epochs: int = 2
    lr: float = 0.01
    limit_train: int = 0
    distill_weight: float = 0.5
    overrides: dict = field(default_factory=dict)
    recipe: str | None = None


def prune_model(
    model: str,
    method: PruneMethod,
    fine: FineTuning,
    run_dir: str | Path,
    data_root: str | Path,
    threads: int = 2,
    on_epoch: Any = None,
) -> dict:
    """Rebuild ``model`` (a shipped `cnn` name or an ONNX export) in torch, prune its channels as ``method`` says
    (see :func:`prune_channels`), and fine-tune it as ``fine`` says into ``run_dir``; returns what was pruned
    (``prune.json``). Run again with the same arguments, it resumes the fine-tuning from ``run_dir/last.pt``.

    ``run_dir`` then holds ``best.pt`` like any training run, for :func:`emolens.train.export.export_run`."""
    from emolens.train.config import TrainConfig, preset
    from emolens.train.loop import Trainer

    m = method
    overrides = dict(fine.overrides)
    fixed = sorted(set(overrides) & set(_FIXED))
    if fixed:
        raise ConfigError(f"--set cannot change {', '.join(fixed)}: the pruned network fixes them")
    recipe, chosen_by = recipe_of(manifest_of(model), fine.recipe)
    # before minutes of rebuilding and pruning: the sets the recipe reads are here (the fine-tuning trains on them;
    # even without it, the export fits its temperature on the validation sets and calibrates INT8 on the rest)
    sets = {k: tuple(overrides.get(k, getattr(preset(recipe), k))) for k in ("extra_train", "val_sets")}
    check_sources(replace(preset(recipe), **sets), Path(data_root), recipe)
    rb = rebuild(model, data_root, threads, fine.recipe)
    net = rb.net
    macs0, params0 = count(net, rb.crop)
    prune_channels(net, m.ratio, rb.crop, m.importance, m.global_pruning, m.keep_first, m.round_to)
    if m.recalibrate_rows > 0:
        recalibrate_batch_norms(net, inputs(rb, rb.train_x[: m.recalibrate_rows]))
    macs1, params1 = count(net, rb.crop)
    kwargs = arch_kwargs(net)
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    start = run_dir / "pruned.pt"
    pruned_cfg = replace(rb.cfg, name=f"{rb.cfg.name}-{round(m.ratio * 100)}", arch_kwargs=kwargs)
    torch.save({"model": net.state_dict(), "config": pruned_cfg.to_dict()}, start)
    scope = "ranked across all layers at once" if m.global_pruning else "the same ratio in every layer"
    record = {
        "pruned_from": str(model),
        "pruned_from_sha256": rb.digest,
        "library": f"torch-pruning {_tp().__version__}",
        "method": f"structured: whole convolution channels ranked by {IMPORTANCE[m.importance]} ({m.importance}), "
        f"{scope}{'; first convolution kept whole' if m.keep_first else ''}; dense head kept",
        "importance": m.importance,
        "global_pruning": m.global_pruning,
        "keep_first": m.keep_first,
        "ratio": m.ratio,
        "round_to": m.round_to,
        "widths": kwargs.get("widths", kwargs.get("conv_widths")),
        "parameters_before": params0,
        "parameters_after": params1,
        "macs_before": macs0,
        "macs_after": macs1,
        "batch_norm_recalibration_rows": m.recalibrate_rows,
        "public_test_accuracy_before_finetune": round(val_accuracy(net, rb, data_root), 4),
        "finetune_epochs": fine.epochs,
        "finetune_distill_weight": fine.distill_weight if fine.epochs > 0 else 0.0,
    }
    fields = {
        **pruned_cfg.to_dict(),
        "init_from": str(start),
        "epochs": max(1, fine.epochs),
        "lr": fine.lr if fine.epochs > 0 else 0.0,
        "warmup_epochs": 0.2,
        "limit_train": fine.limit_train,
        "teacher": [f"{rb.path}@{rb.digest[:12]}"] if fine.distill_weight > 0 else [],
        "distill_weight": fine.distill_weight,
        "distill_rows": "all",  # the unpruned model knows every source it was trained on
        **overrides,
    }
    try:
        ft = TrainConfig.from_dict(fields)
    except TypeError as e:
        raise ConfigError(f"--set: {e}") from None
    record["finetune_recipe"] = rb.recipe
    record["finetune_recipe_from"] = chosen_by
    if overrides:
        record["finetune_overrides"] = overrides
    (run_dir / "prune.json").write_text(json.dumps(record, indent=2) + "\n")
    if fine.epochs > 0:
        Trainer(ft, run_dir, data_root).run(on_epoch=on_epoch)
    else:  # no fine-tuning: the pruned weights as they are, in the checkpoint form export reads
        (run_dir / "config.json").write_text(json.dumps(ft.to_dict(), indent=2))
        torch.save(
            {"model": net.state_dict(), "epoch": 0, "val_accuracy": float("nan"), "config": ft.to_dict()},
            run_dir / "best.pt",
        )
    return record


def attach_record(manifest_path: Path, run_dir: Path) -> dict:
    """Add the run's ``prune.json`` to an exported manifest (and its INT8 copy's) under ``pruning``."""
    record = json.loads((Path(run_dir) / "prune.json").read_text())
    for path in (manifest_path, manifest_path.with_name(manifest_path.stem + "-int8.json")):
        if path.is_file():
            m = json.loads(path.read_text())
            m["pruning"] = record
            path.write_text(json.dumps(m, indent=2) + "\n")
    return record


def private_test_accuracy(onnx_path: Path, data_root: Path, threads: int = 2) -> float:
    """Top-1 accuracy of an exported model (beside its manifest) on the FER2013 PrivateTest split."""
    from emolens.train.data import load_npz
    from emolens.train.export import _prepare_for, ort_logits

    manifest = json.loads(Path(onnx_path).with_suffix(".json").read_text())
    test = load_npz(Path(data_root) / "fer2013" / "private_test.npz", "fer2013")
    logits = ort_logits(Path(onnx_path), _prepare_for(manifest, test.x))
    return float(np.mean(logits.argmax(1) == test.y))
