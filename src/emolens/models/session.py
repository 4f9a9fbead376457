"""ONNX Runtime sessions for verified models, on the execution providers :mod:`emolens.device` picks."""

from __future__ import annotations

from typing import Any, Generic

import numpy as np

from emolens.errors import ModelError
from emolens.models.files import M, ModelInfo, find_model


def open_model(name_or_path: str, kind: type[M], threads: int = 0) -> tuple[ModelInfo[M], Any, str]:
    """Find, verify and open a model of one kind: ``(info, ONNX Runtime session, name of its first input)``.

    ``kind`` is the manifest dataclass (``EmotionManifest``, ``EmbedderManifest``, ...); a model of another kind, a
    bad manifest or a file that fails its sha256 check raises ``ModelError``.
    """
    info = find_model(name_or_path, kind)
    session = onnx_session(info, threads)
    return info, session, session.get_inputs()[0].name


def onnx_session(info: ModelInfo, threads: int = 0, device: str | None = None) -> Any:
    """An ONNX Runtime session for a verified model; ``threads=0`` lets ONNX Runtime choose.

    ``device`` (``auto``, ``cpu``, ``cuda``, ``tensorrt``; default :func:`emolens.device.default_device`) picks
    the execution providers (:func:`emolens.device.providers_for`). A GPU that was asked for and is missing, or
    that fails to start, gives one :class:`emolens.device.DeviceFallbackWarning` and a CPU session.
    """
    import onnxruntime as ort

    from emolens.device import CPU, provider_names, providers_for, warn_fallback

    providers, notice = providers_for(device)
    if notice is not None:
        warn_fallback(notice)

    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    # errors only: the library does not write to the console (SFace's graph declares a batch of 1 for its
    # output, and ONNX Runtime warns on every batched call although the result is right)
    opts.log_severity_level = 3
    if threads:
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
    # Idle intra-op threads wait instead of spinning: spinning threads of one session take the cores another session
    # or process needs (docs/benchmarks.md, "2026-12-07: the 4x target again": about 2x the time and the CPU per
    # photo with two threads; quiet, two waiting threads beat one). A manifest's session_config may set it back.
    config = {"session.intra_op.allow_spinning": "0"}
    # e.g. {"session.disable_quant_qdq": "1"} lets ONNX Runtime fold the weight-only DequantizeLinear nodes of a
    # block-quantised model into plain float weights once, at load, instead of on every call
    config.update({str(k): str(v) for k, v in info.manifest.session_config.items()})
    for key, value in config.items():  # each key once: ONNX Runtime warns on the console when one is set twice
        opts.add_session_config_entry(key, value)
    if len(providers) > 1:
        try:
            session = ort.InferenceSession(str(info.path), opts, providers=providers)
        except Exception as e:  # a GPU provider that cannot start (driver, CUDA or cuDNN libraries missing)
            warn_fallback(f"{provider_names(providers)[0]} could not start ({_first_line(e)}); running on the CPU")
        else:
            wanted = provider_names(providers)[0]
            if wanted not in session.get_providers():
                warn_fallback(f"{wanted} could not start; running on {session.get_providers()[0]}")
            return session
    try:
        return ort.InferenceSession(str(info.path), opts, providers=[CPU])
    except Exception as e:  # onnxruntime raises its own exception types
        raise ModelError(f"cannot load model ({e})", str(info.path)) from None


def _first_line(e: Exception) -> str:
    text = " ".join(str(e).split())
    return text[:120] + ("…" if len(text) > 120 else "")


class OnnxModel(Generic[M]):
    """A shipped model of one kind (its typed manifest ``M``), verified and opened once on ONNX Runtime.

    The emotion model and the face embedder build on it: ``info`` (name, path, manifest), ``name``, ``batch_size``
    and :meth:`_run` (one call of the network on its first input).
    """

    def __init__(self, name: str, kind: type[M], threads: int = 0, batch_size: int = 32) -> None:
        self.info: ModelInfo[M]
        self.info, self._session, self._input = open_model(name, kind, threads)
        self.batch_size = batch_size

    @property
    def name(self) -> str:
        return self.info.name

    def _run(self, x: np.ndarray) -> np.ndarray:
        """The network's first output for one batch ``x``."""
        return np.asarray(self._session.run(None, {self._input: x})[0])
