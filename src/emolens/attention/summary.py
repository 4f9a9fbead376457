"""Per-track attention summaries of a video run (``attention.json``): focus spells, blinks, closures, yawns."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from emolens.errors import ConfigError


def track_summary(tr: Any) -> dict[str, Any]:
    """The events and totals of one :class:`~emolens.attention.TrackAttention` (finished)."""
    durations = [s.duration for s in tr.spells]
    seen = (tr._last_t - tr.first_t) if tr.first_t is not None and tr._last_t is not None else 0.0
    minutes = seen / 60.0
    return {
        "seen_s": round(seen, 3),
        "focus_spells": [s.to_dict() for s in tr.spells],
        "focus_total_s": round(float(sum(durations)), 3),
        "focus_median_s": round(float(np.median(durations)), 3) if durations else None,
        "focus_longest_s": round(float(max(durations)), 3) if durations else None,
        "blinks": [s.to_dict() for s in tr.blinks],
        "blinks_per_minute": round(len(tr.blinks) / minutes, 2) if minutes >= 1 / 6 else None,
        "eye_closures": [s.to_dict() for s in tr.closures],
        "yawns": [s.to_dict() for s in tr.yawns],
        "perclos_last": None if tr.perclos is None else round(tr.perclos, 4),
    }


def attention_summary(att: Any, source: str | None = None) -> dict[str, Any]:
    """The whole run: settings and one entry per track (finishing the tracks still open)."""
    tracks = att.close()
    cfg = att.config
    return {
        "source": source,
        "cone_deg": cfg.cone,
        "target": {"yaw": round(cfg.target_yaw, 2), "pitch": round(cfg.target_pitch, 2)},
        "calibrated_s": att.calibrate_s,
        "eye_closed_ear": cfg.eye_closed,
        "yawn_threshold": cfg.yawn_threshold,
        "timings": {k: getattr(cfg.timings, k) for k in cfg.timings.__dataclass_fields__},
        "tracks": {str(tid): track_summary(tr) for tid, tr in sorted(tracks.items())},
    }


def write_attention_json(path: str | Path, att: Any, source: str | None = None) -> Path:
    """Write :func:`attention_summary` to ``path``; returns the path."""
    path = Path(path)
    try:
        path.write_text(json.dumps(attention_summary(att, source), indent=2) + "\n")
    except OSError as e:
        raise ConfigError(f"cannot write file: {e.strerror or e}", str(path)) from None
    return path
