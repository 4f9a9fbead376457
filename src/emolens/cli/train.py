"""``emolens train`` and ``emolens export``: train a config (resumable), export the best checkpoint to ONNX.

``emolens train text``, ``emolens train voice`` and ``emolens train fusion`` train the text models, the voice model and
the learned fuser."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from emolens.cli.console import EXIT_OK, fail
from emolens.cli.progress import stage_bar
from emolens.errors import EmolensError, MissingExtraError

out = Console()


def _need_torch() -> None:
    try:
        import torch  # noqa: F401
    except ImportError:
        raise MissingExtraError("torch", "train") from None


def _parse_sets(pairs: list[str]) -> dict:
    from emolens.train.config import parse_set_value

    result = {}
    for p in pairs:
        if "=" not in p:
            raise typer.BadParameter(f"--set needs key=value, got {p!r}")
        k, v = p.split("=", 1)
        result[k] = parse_set_value(v)
    return result


@contextmanager
def _epoch_bar(quiet: bool) -> Iterator[Callable[[int, int, int], None] | None]:
    """A transient Rich bar over the batches of the current epoch, on standard error."""
    with stage_bar(quiet) as update:
        yield None if update is None else lambda epoch, done, total: update(f"epoch {epoch + 1}", done, total)


train_app = typer.Typer(invoke_without_command=True, no_args_is_help=False)


def train(
    ctx: typer.Context,
    config: Annotated[str, typer.Option(help="A named config (see --list) or a config.json path.")] = "fer2013-cnn",
    run_dir: Annotated[Path | None, typer.Option(help="Where checkpoints and logs go (default runs/<config>).")] = None,
    data: Annotated[
        Path | None, typer.Option(help="Dataset root (default: EMOLENS_DATA or ../shared/datasets).")
    ] = None,
    max_epochs: Annotated[int | None, typer.Option(help="Stop after this many epochs in this invocation.")] = None,
    sets: Annotated[list[str] | None, typer.Option("--set", help="Override a config field: key=value (JSON).")] = None,
    list_configs: Annotated[bool, typer.Option("--list", help="List the named configs and exit.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar (the epoch lines stay).")] = False,
    dp_epsilon: Annotated[
        float | None,
        typer.Option(help="DP-SGD (Opacus) spending this ε over the planned epochs; batch norm becomes GroupNorm."),
    ] = None,
    dp_delta: Annotated[float | None, typer.Option(help="δ of the DP guarantee (default 1e-5).")] = None,
    dp_max_grad_norm: Annotated[
        float | None, typer.Option(help="Per-example gradient clipping norm C for DP-SGD (default 1.0).")
    ] = None,
    federated: Annotated[
        bool, typer.Option(help="Federated training with Flower: see --clients, --strategy and docs/privacy.md.")
    ] = False,
    clients: Annotated[int, typer.Option(help="Federated: number of clients, each with its own split.")] = 10,
    rounds: Annotated[int | None, typer.Option(help="Federated: rounds (default: the config's epochs).")] = None,
    strategy: Annotated[str, typer.Option(help="Federated: fedavg, fedmedian or krum.")] = "fedavg",
    alpha: Annotated[
        float, typer.Option(help="Federated: Dirichlet α of the label skew across clients (0 = IID).")
    ] = 0.5,
    client_dp_noise: Annotated[
        float, typer.Option(help="Federated: Gaussian noise multiplier on clipped client updates (0 = off).")
    ] = 0.0,
    client_clip: Annotated[float, typer.Option(help="Federated: L2 clipping norm of each client's update.")] = 1.0,
    role: Annotated[
        str,
        typer.Option(help="Federated: 'simulation' (all clients in this process), 'server' or 'client' (processes)."),
    ] = "simulation",
    address: Annotated[str, typer.Option(help="Federated server address HOST:PORT (server and client roles).")] = (
        "127.0.0.1:8080"
    ),
    cid: Annotated[int, typer.Option(help="Federated client role: this client's number, 0 to clients-1.")] = 0,
) -> None:
    """Train an emotion model; rerun the same command to resume from the last checkpoint.

    Sub-commands train the others: `text` (the text models), `voice` (the voice model), `fusion` (the learned fuser).
    """
    if ctx.invoked_subcommand is not None:
        return
    _need_torch()

    from emolens.datasets import data_root
    from emolens.train.config import PRESETS, TrainConfig, preset
    from emolens.train.loop import Trainer

    if list_configs:
        for name, c in PRESETS.items():
            extra = [f"{k}={v}" for k, v in (("init_from", c.init_from), ("ema_decay", c.ema_decay)) if v]
            if c.teacher:
                extra.append(f"teachers={len(c.teacher)}")
            line = f"{name}: arch={c.arch} labels={c.labels} epochs={c.epochs} lr={c.lr:g} loss={c.loss}"
            out.print(" ".join([line, *extra]), highlight=False, soft_wrap=True)
        raise typer.Exit(EXIT_OK)
    try:
        if config.endswith(".json"):
            cfg = TrainConfig.from_dict(json.loads(Path(config).read_text()))
        else:
            cfg = preset(config)
        overrides = _parse_sets(sets or [])
        for key, value in (("dp_epsilon", dp_epsilon), ("dp_delta", dp_delta), ("dp_max_grad_norm", dp_max_grad_norm)):
            if value is not None:
                overrides[key] = value
        if (dp_epsilon or 0) > 0 or federated:
            overrides.setdefault("norm", "group")  # Opacus cannot clip per example through batch norm
        if overrides:
            merged = cfg.to_dict()
            if isinstance(overrides.get("augment"), dict):  # --set augment={"crop": 44} changes only those keys
                overrides["augment"] = {**merged["augment"], **overrides["augment"]}
            cfg = TrainConfig.from_dict({**merged, **overrides})
        root = data or data_root()
        if cfg.dp_epsilon > 0 and cfg.norm == "group" and "norm" not in _parse_sets(sets or []):
            out.print("DP-SGD: batch norm replaced by GroupNorm (per-example clipping needs examples kept apart)")
        run = run_dir or Path("runs") / cfg.name
        resumed = (run / "last.pt").exists()
        out.print(
            f"training {cfg.name} ({cfg.arch}, {cfg.epochs} epochs) in {run}" + (" — resuming" if resumed else ""),
            highlight=False,
        )

        def show(r) -> None:
            star = " *" if r.best else ""
            raw = "" if r.val_accuracy_raw is None else f" (not averaged {r.val_accuracy_raw:.4f})"
            out.print(
                f"epoch {r.epoch + 1:3d}/{cfg.epochs}  loss {r.train_loss:.4f}  val acc {r.val_accuracy:.4f}{raw}  "
                f"val loss {r.val_loss:.4f}  lr {r.lr:.4g}  {r.seconds:.0f}s{star}",
                highlight=False,
                soft_wrap=True,  # one line per epoch in a log file too
            )

        if federated:
            from emolens.train.federated import FederatedConfig, run_client, run_server, train_federated

            fed = FederatedConfig(
                clients=clients,
                rounds=rounds or cfg.epochs,
                strategy=strategy,
                alpha=alpha,
                dp_noise=client_dp_noise,
                clip=client_clip,
            )
            if role not in ("simulation", "server", "client"):
                raise EmolensError(f"--role must be simulation, server or client, not {role!r}")
            if role == "client":
                if not 0 <= cid < clients:
                    raise EmolensError(f"--cid must be between 0 and {clients - 1}")
                run_client(cfg, fed, cid, root, address)
                raise typer.Exit(EXIT_OK)
            reports = (
                run_server(cfg, fed, run, root, address) if role == "server" else train_federated(cfg, fed, run, root)
            )
            for r in reports:
                out.print(
                    f"round {r['round']:3d}/{fed.rounds}  val acc {r['val_accuracy']:.4f}  {r['seconds']:.0f}s",
                    highlight=False,
                )
            raise typer.Exit(EXIT_OK)
        with _epoch_bar(quiet) as step:
            Trainer(cfg, run, root).run(on_epoch=show, max_epochs=max_epochs, on_step=step)
    except (KeyError, TypeError) as e:
        raise fail(EmolensError(f"bad config: {e}")) from None
    except EmolensError as e:
        raise fail(e) from None
    raise typer.Exit(EXIT_OK)


def export(
    run_dirs: Annotated[
        list[Path] | None,
        typer.Argument(help="A training run folder (with best.pt); several make an ensemble."),
    ] = None,
    name: Annotated[str | None, typer.Option(help="Model name for the manifest and files.")] = None,
    out_dir: Annotated[Path | None, typer.Option("--out", help="Where NAME.onnx and NAME.json are written.")] = None,
    data: Annotated[Path | None, typer.Option(help="Dataset root (for calibration and metrics).")] = None,
    int8: Annotated[bool, typer.Option(help="Also write a static INT8 model NAME-int8.onnx.")] = False,
    quantize: Annotated[
        str | None,
        typer.Option(
            help="Instead of a run: write an INT8 copy of this exported or shipped emotion model (name or manifest)."
        ),
    ] = None,
    full_range: Annotated[
        bool, typer.Option(help="8-bit INT8 weights (default 7-bit, safe on x86 CPUs without VNNI).")
    ] = False,
) -> None:
    """Export the best checkpoint (or an ensemble of runs) to ONNX with a parity check, calibrated temperature and
    measured metrics; INT8 copies report size, latency and accuracy before and after."""
    _need_torch()
    from emolens.datasets import data_root
    from emolens.train.export import export_run, quantize_model

    if quantize is not None and run_dirs:
        raise typer.BadParameter("give either run folders or --quantize MODEL, not both")
    if quantize is None and not (run_dirs and name):
        raise typer.BadParameter("give a run folder and --name (or --quantize MODEL)")
    try:
        if quantize is not None:
            summary = quantize_model(quantize, data or data_root(), out_dir, reduce_range=not full_range)
        else:
            summary = export_run(
                list(run_dirs), name, out_dir or Path("."), data or data_root(), int8=int8, reduce_range=not full_range
            )
    except EmolensError as e:
        raise fail(e) from None
    out.print_json(json.dumps(summary))
    raise typer.Exit(EXIT_OK)


def train_text(
    dataset: Annotated[
        str | None, typer.Option(help="goemotions, dair, smp or all: one TF-IDF model per dataset.")
    ] = None,
    multi: Annotated[
        str | None, typer.Option(help="en or zh: train the multi-corpus model of a language instead.")
    ] = None,
    embeddings: Annotated[
        Path | None, typer.Option(help="Sentence-embedding cache for --multi (default runs/text_embeddings).")
    ] = None,
    out_dir: Annotated[
        Path | None, typer.Option("--out", help="Where the model files go (default: the package's).")
    ] = None,
    results: Annotated[Path | None, typer.Option(help="Where the figures go (default docs/results).")] = None,
) -> None:
    """Train the text models (TF-IDF + linear head; --multi adds a sentence embedding), select on validation,
    calibrate, export with a parity check and score on test. Needs scikit-learn (train extra)."""
    try:
        from emolens.registry import models_dir
        from emolens.train.text import REPO, SPECS, train
        from emolens.train.text_multi import MULTI, train_multi
    except ImportError as e:
        raise fail(MissingExtraError(e.name or "scikit-learn", "train")) from None
    if multi is not None and multi not in MULTI:
        raise typer.BadParameter(f"--multi must be one of {', '.join(MULTI)}, not {multi!r}")
    if dataset is not None and dataset not in (*SPECS, "all"):
        raise typer.BadParameter(f"--dataset must be one of {', '.join([*SPECS, 'all'])}, not {dataset!r}")
    if multi is None and dataset is None:
        raise typer.BadParameter("give --dataset or --multi")
    out_dir = out_dir or models_dir()
    results = results or REPO / "docs" / "results"
    try:
        if multi is not None:
            train_multi(multi, out_dir, results, embeddings or REPO / "runs" / "text_embeddings", log=typer.echo)
        else:
            for d in SPECS if dataset == "all" else [dataset]:
                train(d, out_dir, results, log=typer.echo)
    except EmolensError as e:
        raise fail(e) from None
    raise typer.Exit(EXIT_OK)


def train_voice(
    folds: Annotated[bool, typer.Option("--folds", help="Train the 4 actor folds in turn.")] = False,
    fold: Annotated[int | None, typer.Option(min=1, max=4, help="Train one actor fold (1-4).")] = None,
    full: Annotated[bool, typer.Option("--full", help="Train on all 24 actors (the shipped model).")] = False,
    export_run: Annotated[
        Path | None, typer.Option("--export", help="Export a run folder's final.pt to ONNX + manifest.")
    ] = None,
    features_only: Annotated[bool, typer.Option("--features-only", help="Compute the feature cache and stop.")] = False,
    runs: Annotated[Path, typer.Option(help="Run folders, the feature cache and train.log.")] = Path("runs/voice"),
    epochs: Annotated[int | None, typer.Option(help="Epochs (default 30).")] = None,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
    threads: Annotated[int, typer.Option(help="Torch threads.")] = 1,
    mixup: Annotated[float | None, typer.Option(help="Mixup alpha (0: off, the default).")] = None,
    name: Annotated[str, typer.Option(help="Model name of --export.")] = "voice-ravdess",
    out_dir: Annotated[
        Path | None, typer.Option("--out", help="Where --export writes (default: the package's).")
    ] = None,
    folds_dir: Annotated[
        Path | None, typer.Option(help="Fold runs, for --export: cross-validation metrics and the temperature.")
    ] = None,
    results: Annotated[Path | None, typer.Option(help="--export: write the out-of-fold per-clip results here.")] = None,
) -> None:
    """Train the voice model on RAVDESS speech (speaker-independent folds or all actors), or export a run."""
    actions = [folds, fold is not None, full, export_run is not None, features_only]
    if sum(actions) != 1:
        raise typer.BadParameter("give exactly one of --folds, --fold N, --full, --export RUN, --features-only")
    _need_torch()
    import time

    import torch

    from emolens.registry import models_dir
    from emolens.train.voice import VoiceConfig, export, train_run
    from emolens.train.voice_data import FOLDS, VoiceAugment, load_clips
    from emolens.voice.frontend import FrontEnd

    logf = None

    def log(msg: str) -> None:
        line = time.strftime("%H:%M:%S ") + msg
        typer.echo(line)
        if logf:
            logf.write(line + "\n")
            logf.flush()

    augment = VoiceAugment(mixup_alpha=VoiceAugment.mixup_alpha if mixup is None else mixup)
    cfg = VoiceConfig(epochs=epochs or VoiceConfig.epochs, seed=seed, threads=threads, augment=augment)
    fe = FrontEnd.from_dict(cfg.frontend)
    runs.mkdir(parents=True, exist_ok=True)
    try:
        if export_run is not None:
            log(json.dumps(export(export_run, out_dir or models_dir(), name, folds_dir, log, results)))
            raise typer.Exit(EXIT_OK)
        with open(runs / "train.log", "a") as logf:
            torch.set_num_threads(threads)
            clips = load_clips(runs / "features.npz", fe, log)
            for k in [fold] if fold else list(FOLDS) if folds else []:
                test = [c for c in clips if c.actor in FOLDS[k]]
                train = [c for c in clips if c.actor not in FOLDS[k]]
                r = train_run(f"fold{k}", train, test, cfg, runs / f"fold{k}", log)
                log(f"[fold{k}] accuracy {r['accuracy']:.4f}")
            if full:
                train_run("full", clips, [], cfg, runs / "full", log)
    except EmolensError as e:
        raise fail(e) from None
    raise typer.Exit(EXIT_OK)


def train_fusion(
    out_file: Annotated[Path, typer.Option("--out", help="Where the fuser (JSON) is written.")] = Path(
        "fusion-learned.json"
    ),
    voice: Annotated[
        Path, typer.Option(help="Voice fold report with out-of-fold clip predictions (emolens train voice --folds).")
    ] = Path("docs/results/voice_cnn_folds.json"),
    per_class: Annotated[int, typer.Option(help="Tuples per label in each half.")] = 300,
    seed: Annotated[int, typer.Option(help="Seed of the tuples and of the hidden modalities.")] = 0,
    data: Annotated[Path | None, typer.Option(help="Dataset root (default: EMOLENS_DATA or ../shared/datasets).")] = (
        None
    ),
) -> None:
    """Fit the learned fuser (`emolens fuse --rule learned --model FILE`) on face/voice/text tuples of one label
    (docs/fusion.md); `scripts/bench_fusion.py` measures it on the held-out half."""
    from emolens.datasets import data_root
    from emolens.train.fusion import train_fuser

    try:
        _, summary = train_fuser(data or data_root(), voice, out_file, per_class=per_class, seed=seed)
    except EmolensError as e:
        raise fail(e) from None
    out.print_json(json.dumps(summary))
    raise typer.Exit(EXIT_OK)


def register(app: typer.Typer) -> None:
    train_app.callback(invoke_without_command=True)(train)
    train_app.command("text")(train_text)
    train_app.command("voice")(train_voice)
    train_app.command("fusion")(train_fusion)
    app.add_typer(train_app, name="train")
    app.command("export")(export)
