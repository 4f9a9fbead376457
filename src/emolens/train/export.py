"""Export a training run to a shipped model: ONNX with a parity check, temperature calibration, measured
validation metrics, a manifest, and optionally a static INT8 copy."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from emolens.align import FER2013_TEMPLATE
from emolens.errors import ModelError
from emolens.evaluate.metrics import classification_report, fit_temperature
from emolens.evaluate.timing import median_seconds
from emolens.labels import labels_for
from emolens.models import EmotionManifest, EmotionPreprocessing, new_manifest, parse_manifest, sha256_file
from emolens.probability import softmax
from emolens.train.architectures import PRETRAINED
from emolens.train.config import TrainConfig, train_command
from emolens.train.data import load_npz
from emolens.train.loop import _resolve, build_model
from emolens.train.onnx_init import ort_logits
from emolens.train.sources import extra_data_note

DATA_NOTE = (
    "Trained on FER2013 (research use, as released for the ICML 2013 representation-learning challenge; "
    "no licence granted in the underlying photographs) and FER+ labels (MIT, Microsoft). Use for research."
)


class _AffinePReLU(torch.nn.Module):
    """PReLU written as ``a * x + (1 - a) * relu(x)``: the same function, but ONNX Runtime's per-channel PRelu
    kernel is slow (it was 48% of SFace's time on one thread), while Relu, Mul and Add are fast and fuse."""

    def __init__(self, prelu: torch.nn.PReLU) -> None:
        super().__init__()
        a = prelu.weight.detach().reshape(1, -1, 1, 1)
        self.register_buffer("a", a.clone())
        self.register_buffer("b", (1 - a).clone())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.a * x + self.b * torch.relu(x)


def _for_export(model: torch.nn.Module) -> torch.nn.Module:
    """A copy of ``model`` with each per-channel PReLU replaced by its fast equivalent."""
    import copy

    if not any(isinstance(m, torch.nn.PReLU) and m.num_parameters > 1 for m in model.modules()):
        return model
    model = copy.deepcopy(model)
    for parent in list(model.modules()):
        for key, child in parent.named_children():
            if isinstance(child, torch.nn.PReLU) and child.num_parameters > 1:
                setattr(parent, key, _AffinePReLU(child))
    return model


def export_onnx(model: torch.nn.Module, path: Path, crop: int) -> None:
    model = _for_export(model.eval())
    dummy = torch.zeros(1, 1, crop, crop)
    torch.onnx.export(
        model,
        (dummy,),
        str(path),
        input_names=["input"],
        output_names=["logits"],
        dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}},
        opset_version=17,
        dynamo=False,
    )


def _crop_normalise(x: np.ndarray, size: int, crop: int, mean: float, std: float) -> np.ndarray:
    """Centre ``crop`` of ``size``-square grey faces as ``[N, 1, crop, crop]``, scaled to ``(x / 255 - mean) / std``."""
    o = (size - crop) // 2
    c = x[:, o : o + crop, o : o + crop].astype(np.float32)
    return np.ascontiguousarray(((c / 255.0 - mean) / std)[:, None], dtype=np.float32)


def _prepare(cfg: TrainConfig, x: np.ndarray) -> np.ndarray:
    """Network inputs for a training config."""
    return _crop_normalise(x, cfg.input_size, cfg.augment.crop, cfg.mean, cfg.std)


def _prepare_for(manifest: EmotionManifest | dict[str, Any], x: np.ndarray) -> np.ndarray:
    """Network inputs for an exported model, from its manifest's preprocessing."""
    if isinstance(manifest, dict):
        manifest = parse_manifest(manifest, "manifest", task="emotion")
    assert isinstance(manifest, EmotionManifest)
    pre = manifest.preprocessing
    return _crop_normalise(x, pre.align_size, pre.input_size, pre.mean, pre.std)


class Ensemble(torch.nn.Module):
    """Averages the logits of models that share one input (a single ONNX graph for several checkpoints)."""

    def __init__(self, members: list[torch.nn.Module]) -> None:
        super().__init__()
        self.members = torch.nn.ModuleList(members)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.stack([m(x) for m in self.members]).mean(0)


def _load_best(run_dir: Path) -> tuple[torch.nn.Module, TrainConfig, dict]:
    best = run_dir / "best.pt"
    if not best.exists():
        raise ModelError("no best.pt: train first", str(run_dir))
    state = torch.load(best, map_location="cpu", weights_only=False)
    cfg = TrainConfig.from_dict(state["config"])
    if cfg.input_size != 48:
        raise ModelError("export supports input_size 48 runs", str(run_dir))
    model = build_model(cfg, pretrained=False)
    model.load_state_dict(state["model"])
    return model.eval(), cfg, state


def _same_input(a: TrainConfig, b: TrainConfig) -> bool:
    keys = ("input_size", "mean", "std", "labels", "val")
    return all(getattr(a, k) == getattr(b, k) for k in keys) and a.augment.crop == b.augment.crop


def export_run(
    run_dir: str | Path | list[str | Path],
    name: str,
    out_dir: str | Path,
    data_root: str | Path,
    int8: bool = False,
    reduce_range: bool = True,
) -> dict:
    """Export ``run_dir/best.pt`` as ``out_dir/name.onnx`` + ``name.json``; returns a summary dict.

    Given several run folders (same input size, crop, normalisation, labels and validation split), the model is
    their ensemble: one ONNX graph that averages the members' logits.
    """
    run_dirs = [Path(r) for r in (run_dir if isinstance(run_dir, list) else [run_dir])]
    if not run_dirs:
        raise ModelError("no run folder given", name)
    loaded = [_load_best(r) for r in run_dirs]
    model, cfg, state = loaded[0]
    for r, (_, c, _) in zip(run_dirs[1:], loaded[1:], strict=True):
        if not _same_input(cfg, c):
            raise ModelError("ensemble members differ in input, normalisation, labels or validation split", str(r))
    if len(loaded) > 1:
        model = Ensemble([m for m, _, _ in loaded]).eval()
    out_dir, run_dir = Path(out_dir), run_dirs[0]
    out_dir.mkdir(parents=True, exist_ok=True)
    onnx_path = out_dir / f"{name}.onnx"
    export_onnx(model, onnx_path, cfg.augment.crop)

    val = load_npz(_resolve(cfg.val, Path(data_root)), cfg.labels)
    if cfg.limit_val:
        val = val.subset(np.arange(min(cfg.limit_val, len(val))))
    xv = _prepare(cfg, val.x)
    with torch.inference_mode():
        ref = model(torch.from_numpy(xv[:64])).numpy()
    logits = ort_logits(onnx_path, xv)
    parity = float(np.abs(logits[:64] - ref).max())
    if parity > 1e-3:
        raise ModelError(f"ONNX output differs from torch by {parity:.2e}", str(onnx_path))
    labels = labels_for(cfg.num_classes)
    temperature = fit_temperature(logits, val.y)
    pooled = _pooled_validation(cfg, onnx_path, data_root) if cfg.val_sets else None
    if pooled is not None:  # one temperature for every source: each source's rows weigh alike in the fit
        temperature = fit_temperature(pooled["logits"], pooled["y"], pooled["weights"])
    probs = softmax(logits, temperature)
    raw = classification_report(val.y, logits.argmax(1), labels, probs=softmax(logits))
    cal = classification_report(val.y, probs.argmax(1), labels, probs=probs)
    metrics = {
        "val_split": cfg.val,
        "val_accuracy": round(cal.accuracy, 4),
        "val_macro_f1": round(cal.macro_f1, 4),
        "val_ece_uncalibrated": round(raw.ece or 0, 4),
        "val_ece": round(cal.ece or 0, 4),
    }
    if pooled is not None:
        metrics["temperature_fitted_on"] = "pooled validation, sources weighted alike: " + ", ".join(pooled["sets"])
        metrics["val_per_source"] = {}
        for spec, (lg, yv) in pooled["per_set"].items():
            p_ = softmax(lg, temperature)
            r_ = classification_report(yv, p_.argmax(1), labels, probs=p_)
            metrics["val_per_source"][spec] = {
                "n": len(yv),
                "accuracy": round(r_.accuracy, 4),
                "macro_f1": round(r_.macro_f1, 4),
                "ece": round(r_.ece or 0, 4),
            }
        metrics["val_mean_accuracy"] = round(
            float(np.mean([v["accuracy"] for v in metrics["val_per_source"].values()])), 4
        )
    manifest = _manifest(name, onnx_path, cfg, labels, temperature, metrics, state, run_dir)
    if len(loaded) > 1:
        manifest = replace(
            manifest,
            parameters=int(sum(p.numel() for p in model.parameters())),
            architecture="ensemble: " + " + ".join(c.arch for _, c, _ in loaded),
            training={
                "members": [
                    {"config": c.name, "best_epoch": int(st["epoch"]) + 1, "epochs": c.epochs, "run": str(r)}
                    for r, (_, c, st) in zip(run_dirs, loaded, strict=True)
                ],
                "command": " && ".join(train_command(c, r) for r, (_, c, _) in zip(run_dirs, loaded, strict=True))
                + f" && emolens export {' '.join(str(r) for r in run_dirs)} --name {name}",
            },
        )
    manifest.write(out_dir / f"{name}.json")
    summary: dict[str, Any] = {
        "onnx": str(onnx_path),
        "parity_max_abs": parity,
        "temperature": temperature,
        **metrics,
        "size_mb": round(onnx_path.stat().st_size / 1e6, 3),
    }
    if int8:
        images = calibration_images(_resolve(cfg.train, Path(data_root)))
        if cfg.extra_train:  # the other sources' faces too, so their activation ranges are covered
            from emolens.train.data import load_dataset

            rng = np.random.default_rng(0)
            for spec in cfg.extra_train:
                x = load_dataset(_resolve(spec, Path(data_root)), cfg.labels).x
                images = np.concatenate([images, x[np.sort(rng.choice(len(x), min(256, len(x)), replace=False))]])
        calib = _prepare(cfg, images)
        summary["int8"] = quantize_int8(
            onnx_path, manifest, calib, xv, val.y, reduce_range=reduce_range, fp32_logits=logits
        )
    return summary


def _pooled_validation(cfg: TrainConfig, onnx_path: Path, data_root: str | Path) -> dict:
    """The exported graph's logits on ``val`` and each of ``val_sets``, pooled, with row weights 1 / (rows of the
    row's set)."""
    from emolens.train.data import load_dataset

    per_set: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for spec in (cfg.val, *cfg.val_sets):
        v = load_dataset(_resolve(spec, Path(data_root)), cfg.labels)
        if spec == cfg.val and cfg.limit_val:
            v = v.subset(np.arange(min(cfg.limit_val, len(v))))
        per_set[spec] = (ort_logits(onnx_path, _prepare(cfg, v.x)), v.y)
    return {
        "sets": list(per_set),
        "per_set": per_set,
        "logits": np.concatenate([lg for lg, _ in per_set.values()]),
        "y": np.concatenate([y for _, y in per_set.values()]),
        "weights": np.concatenate([np.full(len(y), 1 / len(y)) for _, y in per_set.values()]),
    }


def _manifest(
    name: str,
    onnx_path: Path,
    cfg: TrainConfig,
    labels: tuple[str, ...],
    temperature: float,
    metrics: dict,
    state: dict,
    run_dir: Path,
) -> EmotionManifest:
    return new_manifest(
        EmotionManifest,
        onnx_path,
        name=name,
        classes=tuple(labels),
        architecture=cfg.arch,
        parameters=int(
            sum(v.numel() for k, v in state["model"].items() if "running" not in k and "num_batches" not in k)
        ),
        preprocessing=EmotionPreprocessing(
            grey=True,
            align_size=cfg.input_size,
            input_size=cfg.augment.crop,
            mean=cfg.mean,
            std=cfg.std,
            template=tuple((float(x), float(y)) for x, y in FER2013_TEMPLATE),
        ),
        temperature=round(temperature, 4),
        metrics=metrics,
        training={
            "config": cfg.name,
            "best_epoch": int(state["epoch"]) + 1,
            "epochs": cfg.epochs,
            "command": f"{train_command(cfg, run_dir)} && emolens export {run_dir} --name {name}",
            **({"init_from": cfg.init_from} if cfg.init_from else {}),
            **({"init_sha256": init_digest} if (init_digest := _init_digest(run_dir)) else {}),
            **({"teachers": list(cfg.teacher), "distill_weight": cfg.distill_weight} if cfg.teacher else {}),
            **({"teacher_sha256": _teacher_digests(run_dir)} if cfg.teacher else {}),
            **({"started_from": PRETRAINED[cfg.arch]} if cfg.arch in PRETRAINED else {}),
            **({"privacy": dp} if (dp := _dp_record(run_dir)) else {}),
        },
        licence="Apache-2.0 (weights); data: research use",
        data_note=DATA_NOTE + extra_data_note(cfg.extra_train),
    )


def _init_digest(run_dir: Path) -> str:
    """The sha256 of the ONNX model the run started from, as it recorded it (empty for a checkpoint start)."""
    record = run_dir / "init.json"
    return json.loads(record.read_text()).get("sha256", "") if record.exists() else ""


def _dp_record(run_dir: Path) -> dict:
    """A DP-SGD run's guarantee (ε, δ, accountant, sampling) as it recorded it in dp.json; empty for other runs."""
    from emolens.train.dp import read_record

    return read_record(run_dir)


def _teacher_digests(run_dir: Path) -> list[str]:
    """The sha256 of each teacher the run was trained with, as it recorded them (empty for runs made before the
    record was kept)."""
    record = run_dir / "teachers.json"
    return [t["sha256"] for t in json.loads(record.read_text())] if record.exists() else []


def calibration_images(train_npz: str | Path, n: int = 1024, seed: int = 0) -> np.ndarray:
    """``n`` training images (48 x 48 grey, in file order) drawn at random for INT8 calibration."""
    train = load_npz(train_npz)
    idx = np.random.default_rng(seed).choice(len(train), size=min(n, len(train)), replace=False)
    return train.x[np.sort(idx)]


def _single_face_ms(path: Path, shape: tuple[int, ...], runs: int = 300) -> float:
    """Median ms for one face on one ONNX Runtime thread (the latency figure of the export summary)."""
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    so.inter_op_num_threads = 1
    s = ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])
    x = np.zeros((1, *shape), np.float32)
    return 1000 * median_seconds(lambda: s.run(None, {"input": x}), min_runs=runs, warmup=10)[0]


def quantize_int8(
    onnx_path: Path,
    manifest: EmotionManifest,
    calib: np.ndarray,
    xv: np.ndarray,
    yv: np.ndarray,
    reduce_range: bool = True,
    fp32_logits: np.ndarray | None = None,
) -> dict:
    """Static INT8 (QDQ, per-channel weights) of ``onnx_path`` as ``NAME-int8.onnx`` with its manifest.

    ``calib`` holds prepared calibration inputs; ``xv``/``yv`` the prepared validation set scored before and
    after (``fp32_logits``, when the caller has them, saves scoring the fp32 model again). Weights use 7 bits
    (``reduce_range``) by default: x86 CPUs without VNNI multiply u8 x s8 pairs with 16-bit saturation
    (VPMADDUBSW), which 8-bit weights can overflow; 7 bits cannot, and cost nothing measurable in accuracy on
    FER2013 (docs/model_card.md). Returns size, single-face latency and accuracy before/after.
    """
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self.it = iter(range(0, len(calib), 64))

        def get_next(self) -> dict | None:
            i = next(self.it, None)
            return None if i is None else {"input": calib[i : i + 64]}

    pre = onnx_path.with_name(onnx_path.stem + "-pre.onnx")
    quant_pre_process(str(onnx_path), str(pre))
    q_path = onnx_path.with_name(onnx_path.stem + "-int8.onnx")
    try:
        quantize_static(
            str(pre),
            str(q_path),
            Reader(),
            quant_format=QuantFormat.QDQ,
            per_channel=True,
            reduce_range=reduce_range,
            activation_type=QuantType.QUInt8,
            weight_type=QuantType.QInt8,
        )
    finally:
        pre.unlink(missing_ok=True)
    t = manifest.temperature
    labels = manifest.classes
    figures: dict[str, dict[str, float]] = {}
    for kind, path in (("fp32", onnx_path), ("int8", q_path)):
        logits = fp32_logits if kind == "fp32" and fp32_logits is not None else ort_logits(path, xv)
        probs = softmax(logits, t)
        rep = classification_report(yv, probs.argmax(1), labels, probs=probs)
        figures[kind] = {
            "val_accuracy": round(rep.accuracy, 4),
            "val_macro_f1": round(rep.macro_f1, 4),
            "val_ece": round(rep.ece or 0, 4),
            "size_mb": round(path.stat().st_size / 1e6, 3),
            "ms_per_face_1_thread": round(_single_face_ms(path, xv.shape[1:]), 3),
        }
    q_metrics = {
        k: v for k, v in manifest.metrics.items() if k in ("val_split",) or not k.startswith(("val_", "private_"))
    }
    q_metrics.update({k: figures["int8"][k] for k in ("val_accuracy", "val_macro_f1", "val_ece")})
    qm = replace(
        manifest,
        name=q_path.stem,
        file=q_path.name,
        sha256=sha256_file(q_path),
        quantization="static INT8 QDQ, per-channel "
        + ("7-bit" if reduce_range else "8-bit")
        + f" weights, u8 activations (MinMax over {len(calib)} training images)",
        metrics=q_metrics,
    )
    qm.write(q_path.with_suffix(".json"))
    drop = round(100 * (figures["fp32"]["val_accuracy"] - figures["int8"]["val_accuracy"]), 2)
    return {
        "onnx": str(q_path),
        "accuracy_drop_points": drop,
        **{f"{k}_{m}": v for m, f in figures.items() for k, v in f.items()},
    }


def quantize_model(
    model: str,
    data_root: str | Path,
    out_dir: str | Path | None = None,
    calib_n: int = 1024,
    reduce_range: bool = True,
) -> dict:
    """INT8 copy of an exported or shipped emotion model (by name or manifest path), without its checkpoint.

    Calibrates on ``calib_n`` FER2013 training images and scores before/after on the manifest's validation split
    (FER+ majority labels for an 8-class model).
    """
    from emolens.registry import get_model

    info = get_model(model, task="emotion")
    root = Path(data_root)
    src = info.path
    if out_dir is not None and Path(out_dir).resolve() != src.parent.resolve():
        Path(out_dir).mkdir(parents=True, exist_ok=True)
        src = Path(out_dir) / info.path.name
        src.write_bytes(info.path.read_bytes())
    labels = "ferplus" if len(info.manifest.classes) == 8 else "fer2013"
    val = load_npz(_resolve(info.manifest.metrics["val_split"], root), labels)
    calib = _prepare_for(info.manifest, calibration_images(_resolve("fer2013/train.npz", root), calib_n))
    return quantize_int8(
        src, info.manifest, calib, _prepare_for(info.manifest, val.x), val.y, reduce_range=reduce_range
    )
