"""Identity for video tracks: embed a track's face a few times, average, and match the average.

Embedding every face of every frame would cost more than the rest of the pipeline together. A track is
embedded when it appears and then every ``every_frames`` of its frames, up to ``max_samples`` times; the
unit mean of its embeddings is matched against the gallery, so one blurred frame cannot flip who it is.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from emolens.embed import normalise
from emolens.identity.gallery import Gallery, Match
from emolens.types import Detection


@dataclass
class _TrackState:
    total: np.ndarray
    samples: int
    since: int
    match: Match


class TrackIdentities:
    """Per-track identity over a video; see the module docstring."""

    def __init__(self, gallery: Gallery, every_frames: int = 10, max_samples: int = 10) -> None:
        self.gallery = gallery
        self.every_frames = every_frames
        self.max_samples = max_samples
        self.embedded = 0
        self._tracks: dict[int, _TrackState] = {}

    def update(self, rgb: np.ndarray, tracks: Sequence[tuple[int, Detection]]) -> dict[int, Match]:
        """The current identity of each ``(track_id, detection)`` of one frame."""
        due = []
        for tid, det in tracks:
            st = self._tracks.get(tid)
            if st is None or (st.samples < self.max_samples and st.since >= self.every_frames):
                due.append((tid, det))
            elif st is not None:
                st.since += 1
        if due:
            vecs = self.gallery.embedder.embed(rgb, [d for _, d in due])
            self.embedded += len(due)
            for (tid, _), v in zip(due, vecs, strict=True):
                st = self._tracks.get(tid)
                if st is None:
                    st = self._tracks[tid] = _TrackState(np.zeros_like(v), 0, 0, None)  # type: ignore[arg-type]
                st.total = st.total + v
                st.samples += 1
                st.since = 1
            means = normalise(np.stack([self._tracks[tid].total for tid, _ in due]))
            for (tid, _), m in zip(due, self.gallery.match(means), strict=True):
                self._tracks[tid].match = m
        return {tid: self._tracks[tid].match for tid, _ in tracks}

    def drop(self, track_id: int) -> None:
        self._tracks.pop(track_id, None)
