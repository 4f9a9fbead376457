"""`emolens train --config small-test` trains, resumes and exports end to end (a few hundred images, 1 epoch)."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch")

EMOLENS = str(Path(sys.executable).with_name("emolens"))


def run(*args):
    r = subprocess.run([EMOLENS, *map(str, args)], capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, r.stdout + r.stderr
    return r


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("run")
    first = run("train", "--config", "small-test", "--run-dir", run_dir)
    return run_dir, first


@pytest.fixture(scope="module")
def plain_epoch(tmp_path_factory, data_dir):
    """One plain epoch of `small-test` on 192 images: the baseline that changed recipes are compared with."""
    from emolens.train.config import preset
    from emolens.train.loop import Trainer

    cfg = preset("small-test", limit_train=192, threads=1)
    return Trainer(cfg, tmp_path_factory.mktemp("plain"), data_dir).run()[0]


def test_train_writes_checkpoints_and_log(trained):
    run_dir, first = trained
    assert (run_dir / "last.pt").exists() and (run_dir / "best.pt").exists()
    rows = [json.loads(x) for x in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in rows] == [0]
    assert 0 <= rows[0]["val_accuracy"] <= 1 and np.isfinite(rows[0]["train_loss"])
    assert "epoch   1/1" in first.stdout


def test_resume_continues_from_the_last_epoch(trained):
    run_dir, _ = trained
    second = run("train", "--config", "small-test", "--run-dir", run_dir, "--set", "epochs=2")
    assert "resuming" in second.stdout and "epoch   2/2" in second.stdout and "epoch   1/2" not in second.stdout
    rows = [json.loads(x) for x in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in rows] == [0, 1]


def test_export_onnx_int8_and_load_as_a_model(trained, tmp_path, data_dir):
    import torch

    from emolens.emotion import EmotionModel
    from emolens.train.config import TrainConfig
    from emolens.train.loop import build_model

    run_dir, _ = trained
    out = run("export", run_dir, "--name", "tiny", "--output", tmp_path, "--int8")
    summary = json.loads(out.stdout)
    assert summary["parity_max_abs"] < 1e-3
    manifest = json.loads((tmp_path / "tiny.json").read_text())
    assert manifest["task"] == "emotion" and len(manifest["classes"]) == 7
    assert (tmp_path / "tiny-int8.onnx").stat().st_size < (tmp_path / "tiny.onnx").stat().st_size

    # The exported model, loaded the way the library loads shipped models, agrees with the torch checkpoint.
    model = EmotionModel(str(tmp_path / "tiny.json"))
    x = np.load(data_dir / "fer2013" / "sample_700_private.npz")["x"][:32]
    state = torch.load(run_dir / "best.pt", weights_only=False)
    net = build_model(TrainConfig.from_dict(state["config"]))
    net.load_state_dict(state["model"])
    net.eval()
    with torch.inference_mode():
        ref = net(torch.from_numpy(((x[:, 4:44, 4:44] / 255.0 - 0.5) / 0.25).astype(np.float32)[:, None])).numpy()
    assert np.allclose(model.logits(x), ref, atol=1e-4)

    # A corrupted file fails its sha256 check.
    from emolens.errors import ModelError
    from emolens.registry import _verified_model

    (tmp_path / "tiny.onnx").write_bytes((tmp_path / "tiny.onnx").read_bytes() + b"x")
    _verified_model.cache_clear()  # the check runs once per process; this test changes the file under it
    with pytest.raises(ModelError, match="sha256"):
        EmotionModel(str(tmp_path / "tiny.json"))


def test_warm_restart_and_ensemble_export(trained, tmp_path, data_dir):
    """A second run starts from the first's weights (init_from); exporting both gives their averaged logits."""
    import torch

    from emolens.emotion import EmotionModel
    from emolens.train.config import TrainConfig
    from emolens.train.loop import build_model

    first, _ = trained
    second = tmp_path / "second"
    run(
        "train",
        "--config",
        "small-test",
        "--run-dir",
        second,
        "--set",
        f"init_from={first / 'best.pt'}",
        "--set",
        "seed=1",
    )
    start = torch.load(first / "best.pt", weights_only=False)["model"]
    after = torch.load(second / "best.pt", weights_only=False)["model"]
    assert any(not torch.equal(start[k], after[k]) for k in start)

    out = run("export", first, second, "--name", "duo", "--output", tmp_path)
    assert json.loads(out.stdout)["parity_max_abs"] < 1e-3
    manifest = json.loads((tmp_path / "duo.json").read_text())
    assert [m["run"] for m in manifest["training"]["members"]] == [str(first), str(second)]

    x = np.load(data_dir / "fer2013" / "sample_700_private.npz")["x"][:16]
    xin = torch.from_numpy(((x[:, 4:44, 4:44] / 255.0 - 0.5) / 0.25).astype(np.float32)[:, None])
    refs = []
    for run_dir in (first, second):
        state = torch.load(run_dir / "best.pt", weights_only=False)
        net = build_model(TrainConfig.from_dict(state["config"]))
        net.load_state_dict(state["model"])
        with torch.inference_mode():
            refs.append(net.eval()(xin).numpy())
    assert np.allclose(EmotionModel(str(tmp_path / "duo.json")).logits(x), np.mean(refs, 0), atol=1e-4)


def test_ensemble_of_mismatched_runs_is_refused(trained, tmp_path):
    first, _ = trained
    other = tmp_path / "other"
    run(
        "train",
        "--config",
        "small-test",
        "--run-dir",
        other,
        "--set",
        'augment={"crop": 44}',
        "--set",
        "limit_train=64",
    )
    r = subprocess.run(
        [EMOLENS, "export", str(first), str(other), "--name", "bad", "--output", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert r.returncode != 0 and "ensemble members differ" in r.stderr


def test_quantize_an_exported_model_reports_before_and_after(trained, tmp_path, data_dir):
    """`emolens export --quantize MODEL` makes the INT8 copy of a model without its checkpoint."""
    from emolens.emotion import EmotionModel

    run_dir, _ = trained
    run("export", run_dir, "--name", "q", "--output", tmp_path)
    out = run("export", "--quantize", tmp_path / "q.json")
    summary = json.loads(out.stdout)
    assert summary["size_mb_int8"] < 0.6 * summary["size_mb_fp32"]
    assert summary["ms_per_face_1_thread_int8"] > 0 and summary["ms_per_face_1_thread_fp32"] > 0
    assert summary["accuracy_drop_points"] == pytest.approx(
        100 * (summary["val_accuracy_fp32"] - summary["val_accuracy_int8"]), abs=0.01
    )
    manifest = json.loads((tmp_path / "q-int8.json").read_text())
    assert "7-bit" in manifest["quantization"] and manifest["metrics"]["val_accuracy"] == summary["val_accuracy_int8"]
    x = np.load(data_dir / "fer2013" / "sample_700_private.npz")["x"][:64]
    p32 = EmotionModel(str(tmp_path / "q.json")).predict(x)
    p8 = EmotionModel(str(tmp_path / "q-int8.json")).predict(x)
    assert np.abs(p32 - p8).max() < 0.1


def test_export_needs_a_run_or_a_model(tmp_path):
    r = subprocess.run([EMOLENS, "export", "--output", str(tmp_path)], capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and "--quantize" in r.stderr


def test_bf16_autocast_trains_and_reports_each_step(tmp_path, data_dir):
    from emolens.train.config import preset
    from emolens.train.loop import Trainer

    cfg = preset("small-test", bf16=True, limit_train=192, threads=1)
    steps: list[tuple[int, int, int]] = []
    reports = Trainer(cfg, tmp_path / "bf16", data_dir).run(on_step=lambda *s: steps.append(s))
    assert steps == [(0, 1, 3), (0, 2, 3), (0, 3, 3)]
    assert len(reports) == 1 and np.isfinite(reports[0].train_loss)
    assert json.loads((tmp_path / "bf16" / "config.json").read_text())["bf16"] is True


def test_distillation_from_a_shipped_teacher_changes_the_loss_and_is_recorded(tmp_path, data_dir, plain_epoch):
    from emolens.train.config import preset
    from emolens.train.export import export_run
    from emolens.train.loop import Trainer

    taught = preset("small-test", limit_train=192, threads=1, teacher=("emotion-fer2013-int8",), distill_weight=0.5)
    a = plain_epoch
    b = Trainer(taught, tmp_path / "taught", data_dir).run()[0]
    # Same seed, same batches: only the distillation term differs.
    assert np.isfinite(b.train_loss) and abs(a.train_loss - b.train_loss) > 1e-3
    export_run(tmp_path / "taught", "kd", tmp_path / "out", data_dir)
    training = json.loads((tmp_path / "out" / "kd.json").read_text())["training"]
    assert training["teachers"] == ["emotion-fer2013-int8"] and training["distill_weight"] == 0.5
    shipped = json.loads((Path(__file__).parents[2] / "src/emolens/models/emotion-fer2013-int8.json").read_text())
    assert training["teacher_sha256"] == [shipped["sha256"]]
    assert "--set 'teacher=[\"emotion-fer2013-int8\"]' --set distill_weight=0.5" in training["command"]


def test_a_pinned_teacher_must_be_the_file_it_names(tmp_path):
    from emolens.errors import ConfigError
    from emolens.registry import get_model
    from emolens.train.teachers import resolve_teacher

    path, digest = resolve_teacher("emotion-fer2013-int8")
    assert path == get_model("emotion-fer2013-int8").path and len(digest) == 64
    assert resolve_teacher(f"emotion-fer2013-int8@{digest[:12].upper()}") == (path, digest)
    wrong = "0" * 12 if not digest.startswith("0" * 12) else "f" * 12
    with pytest.raises(ConfigError, match=f"not the {wrong}"):
        resolve_teacher(f"emotion-fer2013-int8@{wrong}")
    # A file path may be pinned too, and an '@' that is not followed by a digest is part of the path.
    odd = tmp_path / "teacher@v2.onnx"
    odd.write_bytes(path.read_bytes())
    assert resolve_teacher(str(odd)) == (odd, digest)
    assert resolve_teacher(f"{odd}@{digest[:8]}") == (odd, digest)


def test_train_with_a_replaced_teacher_stops_with_one_line(tmp_path):
    r = subprocess.run(
        [
            EMOLENS,
            "train",
            "--config",
            "small-test",
            "--run-dir",
            tmp_path / "r",
            "--set",
            "distill_weight=0.5",
            "--set",
            'teacher=["emotion-fer2013-int8@0123456789ab"]',
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert r.returncode != 0 and "not the 0123456789ab… this config was trained with" in r.stderr
    assert "Traceback" not in r.stderr and not (tmp_path / "r" / "last.pt").exists()


def test_weight_average_follows_each_step_and_survives_resume(tmp_path, data_dir):
    import torch

    from emolens.train.config import preset
    from emolens.train.loop import Trainer

    cfg = preset("small-test", limit_train=192, threads=1, epochs=2, ema_decay=0.9)
    run_dir = tmp_path / "ema"
    first = Trainer(cfg, run_dir, data_dir).run(max_epochs=1)[0]
    assert first.val_accuracy_raw is not None and 0 <= first.val_accuracy_raw <= 1
    row = json.loads((run_dir / "metrics.jsonl").read_text().splitlines()[0])
    assert row["val_accuracy_raw"] == first.val_accuracy_raw
    last = torch.load(run_dir / "last.pt", weights_only=False)
    assert int(last["ema"]["n_averaged"]) == 3  # 192 images at batch 64
    # best.pt holds the averaged weights, not the trained ones.
    best = torch.load(run_dir / "best.pt", weights_only=False)["model"]
    name = "head.6.weight"
    assert torch.equal(best[name], last["ema"][f"module.{name}"])
    assert not torch.allclose(best[name], last["model"][name])
    Trainer(cfg, run_dir, data_dir).run()
    assert int(torch.load(run_dir / "last.pt", weights_only=False)["ema"]["n_averaged"]) == 6


def test_a_run_resumed_with_a_new_weight_average_starts_it_from_the_resumed_weights(tmp_path, data_dir):
    import torch

    from emolens.train.config import preset
    from emolens.train.loop import Trainer

    run_dir = tmp_path / "late-ema"
    Trainer(preset("small-test", limit_train=192, threads=1, epochs=2), run_dir, data_dir).run(max_epochs=1)
    assert "ema" not in torch.load(run_dir / "last.pt", weights_only=False)
    second = Trainer(preset("small-test", limit_train=192, threads=1, epochs=2, ema_decay=0.9), run_dir, data_dir)
    report = second.run()[0]
    assert report.epoch == 1 and report.val_accuracy_raw is not None
    last = torch.load(run_dir / "last.pt", weights_only=False)
    assert int(last["ema"]["n_averaged"]) == 3  # only the resumed epoch's steps


def test_weight_average_is_an_exponential_moving_average():
    import torch

    from emolens.train.loop import _averaged

    net = torch.nn.Linear(2, 1, bias=False)
    avg = _averaged(net, 0.9)
    with torch.no_grad():
        net.weight.fill_(1.0)
        avg.update_parameters(net)  # the first update copies
        net.weight.fill_(3.0)
        avg.update_parameters(net)
    assert torch.allclose(avg.module.weight, torch.full((1, 2), 0.9 * 1.0 + 0.1 * 3.0))
    assert _averaged(net, 0.0) is None


def test_sharpness_aware_gradient_is_the_gradient_at_the_worst_nearby_weights():
    import torch

    from emolens.train.loop import sharpness_aware_gradient

    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.BatchNorm1d(4), torch.nn.Tanh(), torch.nn.Linear(4, 2))
    x, t = torch.randn(16, 3), torch.randint(0, 2, (16,))

    def batch_loss():
        return torch.nn.functional.cross_entropy(net(x), t)

    batch_loss().backward()
    weights = [p.detach().clone() for p in net.parameters()]
    plain = [p.grad.clone() for p in net.parameters()]
    stats = net[1].running_mean.clone()
    sharpness_aware_gradient(net, batch_loss, rho=0.5)
    sam = [p.grad.clone() for p in net.parameters()]
    # The weights and the batch-norm statistics are back where they were; only the gradients changed.
    assert all(torch.equal(p, w) for p, w in zip(net.parameters(), weights, strict=True))
    assert torch.equal(net[1].running_mean, stats)
    assert not all(torch.allclose(a, b) for a, b in zip(sam, plain, strict=True))
    # By hand, on a copy: the gradient at w + rho * g / |g|.
    import copy

    moved = copy.deepcopy(net)
    norm = torch.sqrt(sum((g**2).sum() for g in plain))
    with torch.no_grad():
        for p, g in zip(moved.parameters(), plain, strict=True):
            p.add_(0.5 * g / norm)
    moved.zero_grad()
    torch.nn.functional.cross_entropy(moved(x), t).backward()
    assert all(torch.allclose(a, p.grad, atol=1e-6) for a, p in zip(sam, moved.parameters(), strict=True))


def test_sharpness_aware_training_runs_and_differs_from_plain(tmp_path, data_dir, plain_epoch):
    from emolens.train.config import preset
    from emolens.train.loop import Trainer

    a = plain_epoch
    b = Trainer(preset("small-test", limit_train=192, threads=1, sam_rho=0.05), tmp_path / "sam", data_dir).run()[0]
    # Same seed, same batches: the first step's loss is the same, the later ones follow other gradients.
    assert np.isfinite(b.train_loss) and abs(a.train_loss - b.train_loss) > 1e-6
    assert json.loads((tmp_path / "sam" / "config.json").read_text())["sam_rho"] == 0.05


def test_list_names_each_preset_with_its_start_and_teachers():
    lines = {line.split(":")[0]: line for line in run("train", "--list").stdout.splitlines()}
    assert {"small-test", "fer2013-cnn", "ferplus-cnn-r3-kd"} <= set(lines)
    assert "init_from=runs/ferplus-cnn-r2/best.pt" in lines["ferplus-cnn-r3-kd"]
    assert "ema_decay=0.998" in lines["ferplus-cnn-r3-kd"] and "teachers=2" in lines["ferplus-cnn-r3-kd"]
    assert "init_from" not in lines["fer2013-cnn"] and "teachers" not in lines["fer2013-cnn"]


def test_the_recorded_train_command_makes_the_same_config(tmp_path):
    import shlex

    from emolens.train.augment import AugmentConfig
    from emolens.train.config import preset, train_command

    cfg = preset(
        "small-test",
        seed=3,
        lr=0.01,
        augment=AugmentConfig(crop=36, scale=(0.8, 1.2)),
        teacher=("emotion-fer2013-int8",),
        distill_weight=0.5,
        bf16=True,
        limit_train=64,
    )
    command = train_command(cfg, tmp_path / "run")
    words = shlex.split(command)
    assert words[:4] == ["emolens", "train", "--config", "small-test"] and "--run-dir" in words
    run(*words[1:], "--max-epochs", "0")
    assert json.loads((tmp_path / "run" / "config.json").read_text()) == json.loads(json.dumps(cfg.to_dict()))
    assert train_command(preset("small-test"), "runs/small-test") == "emolens train --config small-test"
