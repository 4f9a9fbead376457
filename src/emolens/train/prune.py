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
from dataclasses import replace
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


def prune_channels(model: nn.Module, ratio: float, crop: int) -> nn.Module:
    """Remove ``ratio`` of the channels of every convolution of ``model`` (in place; returned), keeping the dense
    head. Channels are ranked by the L2 norm of their group of weights (Torch-Pruning's magnitude importance)."""
    if not 0 < ratio < 1:
        raise ConfigError(f"--ratio must be between 0 and 1, not {ratio}")
    tp = _tp()
    model.eval()
    example = torch.zeros(1, 1, crop, crop)
    keep = [m for m in model.modules() if isinstance(m, nn.Linear)]
    pruner = tp.pruner.MetaPruner(
        model,
        example,
        importance=tp.importance.MagnitudeImportance(p=2),
        pruning_ratio=ratio,
        ignored_layers=keep,
        global_pruning=False,
    )
    pruner.step()
    return model


def conv_widths(model: nn.Module) -> list[int]:
    """The `cnn` widths of a (pruned) SimpleCNN: the output channels of each stage's convolutions."""
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    outs = [c.out_channels for c in convs]
    pairs = [outs[i : i + 2] for i in range(0, len(outs), 2)]
    if any(len(p) != 2 or p[0] != p[1] for p in pairs):
        raise ConfigError(f"the pruned stages have unequal convolutions {outs}; not a `cnn` any more")
    return [p[0] for p in pairs]


def prune_model(
    model: str,
    ratio: float,
    run_dir: str | Path,
    data_root: str | Path,
    finetune_epochs: int = 2,
    lr: float = 0.01,
    limit_train: int = 0,
    threads: int = 2,
    on_epoch: Any = None,
    distill_weight: float = 0.5,
) -> dict:
    """Rebuild ``model`` (a shipped `cnn` name or an ONNX export) in torch, prune ``ratio`` of its channels and
    fine-tune it for ``finetune_epochs`` (0: none) into ``run_dir``; returns what was pruned (``prune.json``).
    The fine-tuning is taught by the unpruned model (``distill_weight`` of the loss is the KL divergence to its
    softened outputs, 0 turns it off), the usual way to recover what pruning lost.

    ``run_dir`` then holds ``best.pt`` like any training run, for :func:`emolens.train.export.export_run`."""
    from emolens.train.config import TrainConfig, preset
    from emolens.train.data import load_dataset
    from emolens.train.loop import (
        INIT_CALIBRATION_ROWS,
        Trainer,
        _resolve,
        _to_tensor,
        build_model,
        center_crop,
    )
    from emolens.train.onnx_init import check_preprocessing, load_onnx_weights
    from emolens.train.teachers import resolve_teacher

    torch.set_num_threads(threads)
    path, digest = resolve_teacher(model, field="model")
    manifest_path = path.with_suffix(".json")
    manifest = json.loads(manifest_path.read_text()) if manifest_path.is_file() else {}
    pre = manifest.get("preprocessing", {})
    crop = int(pre.get("input_size", 40))
    labels = "ferplus" if len(manifest.get("classes", [])) == 8 else "fer2013"
    base = preset("fer2013-cnn")
    cfg = replace(
        base,
        name=f"prune-{Path(str(model)).stem}-{round(ratio * 100)}",
        labels=labels,
        augment=replace(base.augment, crop=crop),
        mean=float(pre.get("mean", base.mean)),
        std=float(pre.get("std", base.std)),
        threads=threads,
    )
    check_preprocessing(path, crop, cfg.mean, cfg.std)
    root = Path(data_root)
    train = load_dataset(_resolve(cfg.train, root), cfg.labels)
    calib = (center_crop(_to_tensor(train.x[:INIT_CALIBRATION_ROWS], cfg.input_size), crop) - cfg.mean) / cfg.std
    net = build_model(cfg, pretrained=False)
    load_onnx_weights(net, path, calib.float())
    macs0, params0 = count(net, crop)
    prune_channels(net, ratio, crop)
    macs1, params1 = count(net, crop)
    widths = conv_widths(net)
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    start = run_dir / "pruned.pt"
    pruned_cfg = replace(cfg, arch_kwargs={"widths": widths})
    torch.save({"model": net.state_dict(), "config": pruned_cfg.to_dict()}, start)
    record = {
        "pruned_from": str(model),
        "pruned_from_sha256": digest,
        "library": f"torch-pruning {_tp().__version__}",
        "method": "structured: whole convolution channels, L2-magnitude importance, the same ratio in every layer; "
        "dense head kept",
        "ratio": ratio,
        "widths": widths,
        "parameters_before": params0,
        "parameters_after": params1,
        "macs_before": macs0,
        "macs_after": macs1,
        "finetune_epochs": finetune_epochs,
        "finetune_distill_weight": distill_weight if finetune_epochs > 0 else 0.0,
    }
    (run_dir / "prune.json").write_text(json.dumps(record, indent=2) + "\n")
    ft = TrainConfig.from_dict(
        {
            **pruned_cfg.to_dict(),
            "init_from": str(start),
            "epochs": max(1, finetune_epochs),
            "lr": lr if finetune_epochs > 0 else 0.0,
            "warmup_epochs": 0.2,
            "limit_train": limit_train,
            "teacher": [f"{path}@{digest[:12]}"] if distill_weight > 0 else [],
            "distill_weight": distill_weight,
        }
    )
    if finetune_epochs > 0:
        Trainer(ft, run_dir, root).run(on_epoch=on_epoch)
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
