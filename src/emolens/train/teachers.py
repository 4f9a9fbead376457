"""Teachers for distillation: ONNX models (a path or a shipped model's name, optionally pinned by digest) whose
softened outputs a training run learns from beside its labels."""

from __future__ import annotations

import json
import re
from pathlib import Path

import torch
import torch.nn.functional as F

from emolens.train.config import TrainConfig


def resolve_teacher(spec: str, field: str = "teacher") -> tuple[Path, str]:
    """A teacher entry's (or another ONNX start's) ONNX file and its sha256.

    The entry is an ONNX path or a shipped emotion model's name, optionally pinned as ``entry@<sha256 prefix of
    8-64 hex digits>``; a pinned entry whose file has another digest raises ``ConfigError``, so that a config names
    the very model it was trained with. ``field`` is the config field the entry came from, for that message."""
    from emolens.errors import ConfigError
    from emolens.registry import get_model, sha256_file

    entry, _, pin = spec.rpartition("@")
    if not re.fullmatch(r"[0-9a-fA-F]{8,64}", pin):
        entry, pin = spec, ""
    if Path(entry).is_file():
        path, digest = Path(entry), sha256_file(Path(entry))
    else:  # a shipped model: get_model has checked its file against the manifest's digest
        info = get_model(entry, task="emotion")
        path, digest = Path(info.path), info.manifest.sha256
    if pin and not digest.startswith(pin.lower()):
        raise ConfigError(
            f"{field} {entry} is {digest[:12]}…, not the {pin[:12]}… this config was trained with; "
            f"give that file's path in --set {field}={'[...]' if field == 'teacher' else 'PATH'}"
        )
    return path, digest


def load_teachers(cfg: TrainConfig, run_dir: Path | None = None) -> list:
    """Teacher sessions, one for each entry of ``cfg.teacher`` (see ``resolve_teacher``); each one's file and
    sha256 go to ``run_dir/teachers.json``, for the exported manifest."""
    if not cfg.teacher or cfg.distill_weight <= 0:
        return []
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = cfg.threads
    opts.inter_op_num_threads = 1
    resolved = [resolve_teacher(t) for t in cfg.teacher]
    if run_dir is not None:
        record = [{"entry": t, "file": str(p), "sha256": d} for t, (p, d) in zip(cfg.teacher, resolved, strict=True)]
        (run_dir / "teachers.json").write_text(json.dumps(record, indent=2) + "\n")
    return [ort.InferenceSession(str(p), opts, providers=["CPUExecutionProvider"]) for p, _ in resolved]


def teacher_probs(teachers: list, xin: torch.Tensor, temperature: float) -> torch.Tensor:
    x = xin.contiguous().numpy()
    logits = []
    for s in teachers:
        logits.append(torch.from_numpy(s.run(None, {s.get_inputs()[0].name: x})[0]))
    return F.softmax(torch.stack(logits).mean(0) / temperature, 1)


def distilled(
    per_row: torch.Tensor, logits: torch.Tensor, soft: torch.Tensor, taught: torch.Tensor | None, cfg: TrainConfig
) -> torch.Tensor:
    """The batch loss with distillation: for each taught row, ``distill_weight`` of its loss is the KL divergence
    from the teachers' softened outputs ``soft`` (one row per taught row) and the rest its own ``per_row`` loss;
    rows not taught (``taught`` is a mask, None = all) keep their own loss whole."""
    t, w = cfg.distill_temperature, cfg.distill_weight
    rows = slice(None) if taught is None else taught
    kd = F.kl_div(F.log_softmax(logits[rows] / t, 1), soft, reduction="none").sum(1) * t**2
    mixed = per_row.clone()
    mixed[rows] = (1 - w) * per_row[rows] + w * kd
    return mixed.mean()
