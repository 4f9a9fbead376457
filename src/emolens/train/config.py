"""Training configurations: a dataclass and the named presets that `emolens train --config` accepts."""

from __future__ import annotations

import json
import shlex
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from emolens.train.augment import AugmentConfig


@dataclass(frozen=True)
class TrainConfig:
    name: str
    arch: str = "cnn"
    arch_kwargs: dict = field(default_factory=dict)
    labels: str = "fer2013"  # fer2013 (7 hard labels) or ferplus (8-class vote distributions)
    train: str = "fer2013/train.npz"  # relative to the data root unless absolute
    val: str = "fer2013/public_test.npz"
    # Class-folder data only: find and align each photo's largest face with this detector ("retinaface" or
    # "blazeface"); empty takes the images as face crops.
    detector: str = ""
    limit_train: int = 0  # use only the first N training rows (0 = all)
    limit_val: int = 0
    epochs: int = 40
    batch_size: int = 128
    optimizer: str = "sgd"  # sgd (Nesterov) or adamw
    lr: float = 0.05
    weight_decay: float = 5e-4
    warmup_epochs: float = 1.0
    schedule: str = "cosine"  # cosine or onecycle
    loss: str = "ce"  # ce, focal or kl (soft labels)
    label_smoothing: float = 0.1
    focal_gamma: float = 2.0
    class_weights: bool = False
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    input_size: int = 48  # stored crops are resized to this before augmentation
    mean: float = 0.5
    std: float = 0.25
    teacher: tuple[str, ...] = ()  # ONNX teacher models for distillation
    distill_weight: float = 0.0
    distill_temperature: float = 4.0
    # Which training rows the teachers teach: "all", or "main" (only the rows of `train`, not `extra_train`): a
    # teacher trained on `train` alone keeps the student's accuracy there without pulling it back on other sources.
    distill_rows: str = "all"
    # Exponential moving average of the weights (and batch-norm statistics) after each step; validation,
    # selection and best.pt use the averaged weights. 0 turns it off; 0.998 averages over about 2 epochs of
    # FER2013 at batch 128.
    ema_decay: float = 0.0
    # Sharpness-aware minimisation: each step takes its gradient at the worst weights within this L2 distance of
    # the current ones (a second forward and backward pass, so about twice the time). 0 turns it off; 0.05 is
    # the usual radius for SGD.
    sam_rho: float = 0.0
    seed: int = 0
    threads: int = 2
    bf16: bool = False  # bfloat16 autocast for the training forward pass (about 1.9x faster on AVX-512 BF16 CPUs)
    # Start from these weights with a fresh optimiser and schedule: a run's best.pt/last.pt (a warm restart), or an
    # exported `cnn` as an ONNX file or a shipped model's name (fine-tuning it; its batch norms are rebuilt).
    init_from: str = ""
    # Training beside `train`: more sets (a cached source's split, ``.../expw.npz:train``, see train/sources.py) and
    # more validation sets; with `val_sets` the best epoch is the one with the highest mean accuracy over `val` and
    # each of them (sources weigh alike, whatever their size).
    extra_train: tuple[str, ...] = ()
    val_sets: tuple[str, ...] = ()
    # Sampling across the training sets: each set's share of an epoch is proportional to its size to this power
    # (1: as they come, 0: every set alike); an epoch then draws `epoch_size` rows (0: as many as there are).
    source_balance: float = 1.0
    epoch_size: int = 0
    # For 7-class FER2013 labels from an npz that also has FER+ votes: the target is this share of the votes'
    # distribution over the seven emotions (contempt dropped) and the rest the FER2013 label.
    ferplus_soft: float = 0.0
    # Normalisation layers: "batch" (BatchNorm) or "group" (each BatchNorm2d becomes a GroupNorm): what DP-SGD
    # needs, since batch norm mixes the examples of a batch, and what federated training uses on skewed clients.
    norm: str = "batch"
    # DP-SGD through Opacus (train/dp.py): the target ε over the planned epochs (0 = off), δ, the per-example
    # gradient clipping norm and the accountant ("rdp" or "prv"). batch_size is the expected Poisson batch.
    dp_epsilon: float = 0.0
    dp_delta: float = 1e-5
    dp_max_grad_norm: float = 1.0
    dp_accountant: str = "rdp"

    def __post_init__(self) -> None:
        choices = {
            "optimizer": ("sgd", "adamw"),
            "schedule": ("cosine", "onecycle"),
            "loss": ("ce", "focal", "kl"),
            "labels": ("fer2013", "ferplus"),
            "norm": ("batch", "group"),
            "distill_rows": ("all", "main"),
        }
        for key, allowed in choices.items():
            if getattr(self, key) not in allowed:
                raise TypeError(f"{key} must be one of {', '.join(allowed)}, not {getattr(self, key)!r}")

    @property
    def num_classes(self) -> int:
        return 8 if self.labels == "ferplus" else 7

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> TrainConfig:
        d = dict(d)
        aug = d.pop("augment", {}) or {}
        aug = {k: tuple(v) if isinstance(v, list) else v for k, v in aug.items()}
        for key in ("teacher", "extra_train", "val_sets"):
            if key in d:
                d[key] = tuple(d[key])
        return cls(augment=AugmentConfig(**aug), **d)


# FER+ training: KL against the annotators' vote distributions (already soft, so no label smoothing).
_FERPLUS: dict = {"labels": "ferplus", "loss": "kl", "label_smoothing": 0.0}
# A warm restart: a second, shorter cosine cycle at a lower rate from earlier weights, with a new seed.
_RESTART: dict = {"lr": 0.02, "warmup_epochs": 0.5, "seed": 1}
# Distillation into the fast `cnn` from the FER+ model's features (a new head where the classes differ),
# taught by the fine-tuned recognition network and the shipped `cnn` together; 10 epochs, bf16, one thread.
_KD: dict = {**_RESTART, "epochs": 10, "bf16": True, "threads": 1, "init_from": "runs/ferplus-cnn-r2/best.pt"}
# A third cycle from the shipped FER+ weights: half the second cycle's rate, with the weights averaged (EMA).
_R3: dict = {
    **_RESTART,
    "lr": 0.01,
    "seed": 2,
    "epochs": 16,
    "ema_decay": 0.998,
    "bf16": True,
    "threads": 1,
    "init_from": "runs/ferplus-cnn-r2/best.pt",
}

# Teachers are pinned to the files the runs were taught by (``entry@sha256 prefix``): the shipped INT8 models
# named here were later replaced, and are in the repository's history (git show 785bfae^:src/emolens/models/...).
_SFACE_FER2013 = "runs/export-sface/emotion-fer2013-sface.onnx"
_SFACE_FERPLUS = "runs/export-sface/emotion-ferplus-sface.onnx"

# Where research/cache_faces_extra.py puts the aligned faces of faces_extra (retinaface, FER2013 template, 48 px),
# relative to the repository root.
_XSOURCE = "../cache/faces_extra/retinaface-48-1fb35d68"

_XSOURCE_CFG = TrainConfig(
    name="fer2013-cnn-xsource",
    init_from="emotion-fer2013@7e7b63271904",  # the FER2013-only model (git show 07a48a3:src/emolens/models/...)
    extra_train=tuple(f"{_XSOURCE}/{s}.npz:train" for s in ("expw", "sfew", "taiwanese")),
    val_sets=tuple(f"{_XSOURCE}/{s}.npz:val" for s in ("expw", "sfew", "taiwanese")),
    source_balance=0.5,
    epoch_size=8192,
    ferplus_soft=0.3,
    epochs=7,
    lr=0.01,
    warmup_epochs=0.3,
    ema_decay=0.99,
    threads=1,
    augment=AugmentConfig(
        rotate_deg=15.0,
        scale=(0.85, 1.15),
        erase_p=0.25,
        gamma=0.3,
        shade=0.3,
        lowres_p=0.25,
        lowres_scale=(0.35, 0.8),
        jpeg_p=0.25,
        jpeg_quality=(20, 80),
        noise_std=0.02,
        occlude_p=0.1,
    ),
)

PRESETS: dict[str, TrainConfig] = {
    "fer2013-cnn": TrainConfig(name="fer2013-cnn", epochs=30),
    # A second cosine cycle from the end of the first; its best snapshot is ensembled with the first.
    "fer2013-cnn-r2": TrainConfig(name="fer2013-cnn-r2", epochs=20, init_from="runs/fer2013-cnn/last.pt", **_RESTART),
    "fer2013-resnet": TrainConfig(name="fer2013-resnet", arch="resnet", epochs=60),
    "fer2013-mobile": TrainConfig(name="fer2013-mobile", arch="mobile", augment=AugmentConfig(crop=44), epochs=60),
    "ferplus-cnn": TrainConfig(name="ferplus-cnn", **_FERPLUS),
    # The FER+ model's second cosine cycle, as fer2013-cnn-r2 is.
    "ferplus-cnn-r2": TrainConfig(
        name="ferplus-cnn-r2", epochs=16, bf16=True, init_from="runs/ferplus-cnn/last.pt", **_RESTART, **_FERPLUS
    ),
    # Fine-tuning the shipped face-recognition network (SFace) as an expression classifier: a lower rate keeps
    # the recognition features, and a face-recognition start needs far fewer epochs than training from scratch.
    "fer2013-sface": TrainConfig(name="fer2013-sface", arch="sface", epochs=10, lr=0.02, threads=1),
    "ferplus-sface": TrainConfig(name="ferplus-sface", arch="sface", epochs=10, lr=0.02, threads=1, **_FERPLUS),
    "fer2013-cnn-kd": TrainConfig(
        name="fer2013-cnn-kd",
        teacher=(f"{_SFACE_FER2013}@680fb6238336", "emotion-fer2013-int8@7ae8aba5529c"),
        distill_weight=0.5,
        **_KD,
    ),
    "ferplus-cnn-kd": TrainConfig(
        name="ferplus-cnn-kd",
        teacher=(f"{_SFACE_FERPLUS}@2ff37f01beec", "emotion-ferplus-int8@6e4ee027c596"),
        distill_weight=0.5,
        **_KD,
        **_FERPLUS,
    ),
    "ferplus-cnn-r3": TrainConfig(name="ferplus-cnn-r3", **_R3, **_FERPLUS),
    "ferplus-cnn-r3-kd": TrainConfig(
        name="ferplus-cnn-r3-kd",
        teacher=(f"{_SFACE_FERPLUS}@2ff37f01beec", "runs/export-kd/emotion-ferplus-kd.onnx@f71df6d60824"),
        distill_weight=0.5,
        **_R3,
        **_FERPLUS,
    ),
    # The FER2013 student of the same recipe, from the FER2013 distilled `cnn` (the shipped FER2013 checkpoint
    # was not kept).
    "fer2013-cnn-r3": TrainConfig(name="fer2013-cnn-r3", **{**_R3, "init_from": "runs/fer2013-cnn-kd/best.pt"}),
    # Trained for breadth: the shipped FER2013 `cnn` fine-tuned on FER2013 (FER+ votes as part soft labels) with
    # the `train` rows of ExpW, SFEW and Taiwanese (aligned by `research/cache_faces_extra.py`), sources sampled
    # by the square root of their size, augmented for what differs between sources, and selected on the mean
    # accuracy over FER2013 PublicTest and each source's held-out `val` rows.
    "fer2013-cnn-xsource": _XSOURCE_CFG,
    # The same for breadth, holding FER2013: the shipped model teaches the student on the FER2013 rows only
    # (`distill_rows="main"`), at half the rate, over 10 epochs in which FER2013 is about half of each epoch
    # (`source_balance=0.4`: FER2013 52%, ExpW 23%, SFEW 12%, Taiwanese 13%).
    "fer2013-cnn-xsource2": replace(
        _XSOURCE_CFG,
        name="fer2013-cnn-xsource2",
        teacher=("emotion-fer2013@7e7b63271904",),
        distill_weight=0.6,
        distill_rows="main",
        lr=0.005,
        epochs=10,
        source_balance=0.4,
    ),
    # A few hundred images for one epoch: what the test suite runs to prove the loop, resume and export.
    "small-test": TrainConfig(
        name="small-test",
        limit_train=384,
        limit_val=256,
        epochs=1,
        batch_size=64,
        arch_kwargs={"widths": [8, 16, 16, 32]},
    ),
}


def preset(name: str, **overrides: object) -> TrainConfig:
    if name not in PRESETS:
        raise KeyError(f"unknown config {name!r}; known: {', '.join(sorted(PRESETS))}")
    return replace(PRESETS[name], **overrides)


def train_command(cfg: TrainConfig, run_dir: str | Path) -> str:
    """The ``emolens train`` command that trains ``cfg`` into ``run_dir``: its preset with a ``--set`` for each
    field that differs from it (only the augmentation keys that differ), or the run's own config.json."""
    base = PRESETS.get(cfg.name)
    if base is None:
        return f"emolens train --config {shlex.quote(str(Path(run_dir) / 'config.json'))}"
    words = ["emolens", "train", "--config", cfg.name]
    mine, theirs = json.loads(json.dumps(cfg.to_dict())), json.loads(json.dumps(base.to_dict()))
    for key, value in mine.items():
        if key == "augment":
            value = {k: v for k, v in value.items() if theirs["augment"][k] != v}
        if value == theirs[key] or value == {}:
            continue
        text = value if isinstance(value, str) and value == parse_set_value(value) else json.dumps(value)
        words += ["--set", f"{key}={text}"]
    if Path(run_dir) != Path("runs") / cfg.name:
        words += ["--run-dir", str(run_dir)]
    return shlex.join(words)


def parse_set_value(text: str) -> object:
    """What ``--set key=text`` gives the field: JSON when it parses, else the text itself."""
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text
