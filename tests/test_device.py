"""emolens.device: which ONNX Runtime providers each device gets, the CPU fallback and its one-line notice."""

from __future__ import annotations

import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

from emolens import device
from emolens.device import CPU, CUDA, TENSORRT, DeviceFallbackWarning, providers_for, set_default_device
from emolens.errors import ConfigError
from emolens.registry import get_model, onnx_session

EMOLENS = str(Path(sys.executable).with_name("emolens"))
GPU_BUILD = [TENSORRT, CUDA, CPU]  # what onnxruntime-gpu reports


@pytest.fixture(autouse=True)
def _clean(monkeypatch):
    monkeypatch.delenv("EMOLENS_DEVICE", raising=False)
    set_default_device(None)
    device._warned.clear()
    yield
    set_default_device(None)
    device._warned.clear()


def names(providers) -> list[str]:
    return [p if isinstance(p, str) else p[0] for p in providers]


def test_selection_with_a_gpu_build():
    assert providers_for("auto", GPU_BUILD) == ([CUDA, CPU], None)  # TensorRT is opt-in
    assert providers_for("cuda", GPU_BUILD) == ([CUDA, CPU], None)
    assert providers_for("cpu", GPU_BUILD) == ([CPU], None)
    chain, notice = providers_for("tensorrt", GPU_BUILD)
    assert names(chain) == [TENSORRT, CUDA, CPU] and notice is None
    assert chain[0][1]["trt_engine_cache_enable"] is True


def test_selection_without_a_gpu_build_falls_back_with_a_notice():
    assert providers_for("auto", [CPU]) == ([CPU], None)  # auto is silent on a CPU machine
    chain, notice = providers_for("cuda", [CPU])
    assert chain == [CPU]
    assert "CUDA was asked for" in notice and "running on the CPU" in notice and "emolens[gpu]" in notice
    assert "\n" not in notice
    chain, notice = providers_for("tensorrt", [CUDA, CPU])  # CUDA build without TensorRT
    assert chain == [CUDA, CPU] and "TensorRT" in notice and "running on CUDA" in notice


def test_default_comes_from_the_setter_then_the_environment(monkeypatch):
    assert device.default_device() == "auto"
    monkeypatch.setenv("EMOLENS_DEVICE", "CPU ")
    assert device.default_device() == "cpu"
    assert providers_for(None, GPU_BUILD) == ([CPU], None)
    set_default_device("cuda")
    assert device.default_device() == "cuda"
    monkeypatch.setenv("EMOLENS_DEVICE", "gpu")
    set_default_device(None)
    with pytest.raises(ConfigError, match="unknown EMOLENS_DEVICE 'gpu'; choose one of auto, cpu, cuda, tensorrt"):
        device.default_device()
    with pytest.raises(ConfigError, match="unknown device"):
        providers_for("metal", [CPU])


def test_real_sessions_fall_back_to_the_cpu_once_and_still_run():
    """On this machine (onnxruntime, no GPU) asking for CUDA loads every kind of model on the CPU."""
    if CUDA in device.available_providers():
        pytest.skip("this machine has CUDA")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        sessions = [onnx_session(get_model(n), threads=1, device="cuda") for n in ("emotion-fer2013", "retinaface")]
    assert [s.get_providers() for s in sessions] == [[CPU], [CPU]]
    notes = [w for w in caught if issubclass(w.category, DeviceFallbackWarning)]
    assert len(notes) == 1  # once per process, not once per model
    emotion = sessions[0]
    x = np.zeros([d if isinstance(d, int) else 1 for d in emotion.get_inputs()[0].shape], np.float32)
    assert emotion.run(None, {emotion.get_inputs()[0].name: x})[0].shape[0] == 1


def test_a_provider_that_fails_to_start_falls_back(monkeypatch):
    """A GPU provider that ONNX Runtime lists but cannot start (no driver) gives a CPU session and one notice."""
    import onnxruntime as ort

    real = ort.InferenceSession
    calls = []

    def session(path, opts, providers):
        calls.append(names(providers))
        if providers != [CPU]:
            raise RuntimeError("CUDA_PATH is set but CUDA wasn't able to be loaded\nmore detail")
        return real(path, opts, providers=providers)

    monkeypatch.setattr(device, "available_providers", lambda: [CUDA, CPU])
    monkeypatch.setattr(ort, "InferenceSession", session)
    with pytest.warns(DeviceFallbackWarning, match=r"CUDAExecutionProvider could not start \(CUDA_PATH is set"):
        s = onnx_session(get_model("emotion-fer2013"), threads=1)
    assert calls == [[CUDA, CPU], [CPU]] and s.get_providers() == [CPU]


def test_cli_device_option_prints_one_note_and_runs(tmp_path, data_dir):
    if CUDA in device.available_providers():
        pytest.skip("this machine has CUDA")
    photo = data_dir / "photos" / "couple.jpg"
    r = subprocess.run(
        [EMOLENS, "analyze", str(photo), "--device", "cuda", "-f", "json", "-o", str(tmp_path / "a.json")],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert r.returncode == 0, r.stderr
    notes = [ln for ln in r.stderr.splitlines() if ln.startswith("note:")]
    assert len(notes) == 1 and "CUDA was asked for" in notes[0], r.stderr
    assert "Warning" not in r.stderr  # shown as a note, not as a Python warning with a file and line
    assert '"label": "happy"' in (tmp_path / "a.json").read_text()
    bad = subprocess.run(
        [EMOLENS, "analyze", str(photo), "--device", "gpu"], capture_output=True, text=True, timeout=300
    )
    assert bad.returncode == 2 and "gpu" in bad.stderr
