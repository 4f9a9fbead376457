"""A shipped text emotion model: TF-IDF blocks and a linear head, stored in one ``.npz`` (no pickles).

The ``.npz`` holds ``config`` (JSON, as UTF-8 bytes), per block ``vocab_<i>`` (a JSON list of terms, as UTF-8
bytes) and ``idf_<i>``, and the head's ``W`` (classes × features) and ``b``. The head is either

- ``softmax``: one class per text; probabilities ``softmax((x·W + b) / T)`` over the model's own classes, then
  summed onto the seven face labels through the model's ``to_face`` table, or
- ``sigmoid``: one-vs-rest over the seven face labels (multi-label data); ``sigmoid(x·W + b)`` per label, each
  label with its own decision threshold; the probabilities reported are these scores normalised to sum to 1,
  or, when the config says ``"probabilities": "softmax"``, ``softmax((x·W + b) / T)`` (calibrated by ``T``).

A model may also append a sentence embedding to its TF-IDF features (config ``encoder``: the package, its
version, the sha256 of its weights and a ``weight`` the unit-length embedding is multiplied by); its columns
come last in ``W``. See :mod:`emolens.text.encoder`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np

from emolens.errors import ModelError
from emolens.labels import FER2013
from emolens.models import ModelInfo, TextManifest, find_model
from emolens.probability import softmax
from emolens.text.features import TfidfBlock, normalize_text, transform


def _json_array(a: np.ndarray) -> Any:
    return json.loads(a.tobytes().decode("utf-8"))


@dataclass(frozen=True)
class LinearTextModel:
    """TF-IDF features and a linear head; :meth:`scores` gives face-label probabilities for a batch."""

    name: str
    language: str
    classes: tuple[str, ...]  # the model's own classes (rows of W)
    head: str  # "softmax" or "sigmoid"
    blocks: tuple[TfidfBlock, ...]
    weights: np.ndarray  # (classes, features)
    bias: np.ndarray  # (classes,)
    temperature: float
    to_face: np.ndarray  # (classes, 7): 1 where a class maps onto a face label
    thresholds: np.ndarray | None  # (7,) for sigmoid heads
    encoder: dict[str, Any] | None = None  # package, version, weights_sha256, weight, dim
    sigmoid_probabilities: str = "normalised"  # sigmoid heads: "normalised" scores or "softmax" of logits / T

    @property
    def n_features(self) -> int:
        return sum(b.size for b in self.blocks) + (int(self.encoder["dim"]) if self.encoder else 0)

    def embed(self, texts: list[str]) -> np.ndarray | None:
        """The sentence embeddings the model appends (texts × dim), or ``None`` for a TF-IDF-only model."""
        if not self.encoder:
            return None
        from emolens.text.encoder import sentence_encoder

        enc = sentence_encoder()
        enc.check(self.encoder["version"], self.encoder["weights_sha256"])
        return enc.encode([normalize_text(t) for t in texts])

    def logits(self, texts: list[str], embeddings: np.ndarray | None = None) -> np.ndarray:
        """Raw scores ``x·W + b`` (texts × classes); the texts are normalised as in training.

        ``embeddings``: the sentence embeddings of ``texts`` when already computed (else the encoder runs).
        """
        out = np.empty((len(texts), len(self.classes)), np.float64)
        blocks = list(self.blocks)
        for r, text in enumerate(texts):
            idx, val = transform(blocks, normalize_text(text))
            out[r] = self.weights[:, idx] @ val + self.bias
        if self.encoder:
            e = self.embed(texts) if embeddings is None else embeddings
            dim = int(self.encoder["dim"])
            out += (e.astype(np.float64) * float(self.encoder["weight"])) @ self.weights[:, -dim:].T
        return out

    def probabilities(
        self, texts: list[str], embeddings: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray | None]:
        """Face-label probabilities (texts × 7, rows sum to 1) and, for sigmoid heads, the raw per-label scores."""
        z = self.logits(texts, embeddings)
        if self.head == "softmax":
            return softmax(z, self.temperature) @ self.to_face, None
        s = 1.0 / (1.0 + np.exp(-z))
        if self.sigmoid_probabilities == "softmax":
            return softmax(z, self.temperature), s
        return s / s.sum(1, keepdims=True), s


def load_npz(path: str | Path, name: str = "") -> LinearTextModel:
    """Read a text model ``.npz``; ``ModelError`` if it is not one."""
    try:
        with np.load(path, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
        cfg = _json_array(arrays["config"])
        blocks = []
        for i, bc in enumerate(cfg["blocks"]):
            terms = _json_array(arrays[f"vocab_{i}"])
            blocks.append(
                TfidfBlock(
                    analyzer=bc["analyzer"],
                    ngram_range=(int(bc["ngram_range"][0]), int(bc["ngram_range"][1])),
                    lowercase=bool(bc["lowercase"]),
                    sublinear_tf=bool(bc["sublinear_tf"]),
                    vocabulary={t: j for j, t in enumerate(terms)},
                    idf=arrays[f"idf_{i}"].astype(np.float64),
                )
            )
        classes = tuple(cfg["classes"])
        to_face = np.zeros((len(classes), len(FER2013)))
        for i, c in enumerate(classes):
            to_face[i, FER2013.index(cfg["to_face"][c])] = 1.0
        weights = arrays["W"].astype(np.float64)
        bias = arrays["b"].astype(np.float64)
        thresholds = np.asarray(cfg["thresholds"], np.float64) if cfg.get("thresholds") else None
        model = LinearTextModel(
            name=name or cfg.get("name", Path(path).stem),
            language=cfg["language"],
            classes=classes,
            head=cfg["head"],
            blocks=tuple(blocks),
            weights=weights,
            bias=bias,
            temperature=float(cfg.get("temperature", 1.0)),
            to_face=to_face,
            thresholds=thresholds,
            encoder=cfg.get("encoder") or None,
            sigmoid_probabilities=str(cfg.get("probabilities", "normalised")),
        )
    except ModelError:
        raise
    except (OSError, KeyError, ValueError, TypeError, json.JSONDecodeError) as e:
        raise ModelError(f"not a text model ({type(e).__name__}: {e})", str(path)) from None
    if model.head not in ("softmax", "sigmoid"):
        raise ModelError(f"unknown head {model.head!r}", str(path))
    if weights.shape != (len(classes), model.n_features) or bias.shape != (len(classes),):
        raise ModelError("weights do not match the vocabulary and classes", str(path))
    if model.head == "sigmoid" and (classes != FER2013 or thresholds is None or len(thresholds) != len(FER2013)):
        raise ModelError("a sigmoid head needs the seven face labels and a threshold each", str(path))
    return model


@cache
def load_text_model(name_or_path: str) -> LinearTextModel:
    """A shipped text model by name (or a manifest path), its file checked against the manifest's sha256."""
    info: ModelInfo[TextManifest] = find_model(name_or_path, TextManifest)
    model = load_npz(info.path, info.name)
    m = info.manifest
    said = (m.language, m.head, m.source_classes or m.classes)
    if (model.language, model.head, model.classes) != said:
        raise ModelError(
            f"the manifest says {said[0]}, {said[1]} head, classes {list(said[2])}; the weights "
            f"{model.language}, {model.head} head, classes {list(model.classes)}",
            str(info.manifest_path),
        )
    return model
