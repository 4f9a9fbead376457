"""What a session does, as data: :class:`SessionConfig`, and the parsing of alert rules and attention targets."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from emolens.errors import ConfigError
from emolens.events import KINDS as ATTENTION_KINDS
from emolens.events import Alert, AlertEngine, AttentionRule, EventLogger, Rule, parse_rule

if TYPE_CHECKING:
    from emolens.attention import AttentionAnalyzer


__all__ = [
    "ATTENTION_KINDS",
    "Alert",
    "AlertEngine",
    "AttentionRule",
    "EventLogger",
    "Rule",
    "SessionConfig",
    "attention_stage",
    "parse_rules",
]


@dataclass(frozen=True)
class SessionConfig:
    """How one video session runs: the sampling of the source, smoothing, attention, events and alerts.

    The models (detector, emotion model, gallery) are the :class:`~emolens.Analyzer`'s; the outputs are the
    sinks given to :class:`~emolens.session.Session`. Every field has the default of ``emolens video``.

    Attributes
    ----------
    every_n_frames, full_detect_every, target_fps, max_frames, smoothing, live, batch_frames, buffer_frames:
        As in :meth:`emolens.Analyzer.analyze_video`.
    min_confidence:
        Below this smoothed confidence a track's label is ``uncertain`` (``smoothing_options['min_confidence']``).
    with_frames:
        Keep each frame's pixels in :attr:`SessionStep.frame` (also on when a sink needs them).
    attention:
        ``None``/``False`` for none; ``True``, a dict of options or an
        :class:`~emolens.attention.AttentionAnalyzer` (see :func:`attention_stage`).
    alerts:
        Alert rules: specs ``EMOTIONS[:SECONDS[:WHO[:MIN_SCORE]]]`` or ``distracted|drowsy|yawn[:SECONDS...]``, or
        rule objects. Emotion rules are checked on every analysed frame; attention rules need ``attention``.
    log_events:
        Append one event row per track every ``event_interval_s`` seconds of video to the gallery's event log
        (needs an analyzer with a gallery).
    event_interval_s:
        Seconds of video between two event rows of one track.
    event_flush_s:
        For live sources: write buffered events once the oldest has waited this long (``None``: in batches).
    webhook:
        POST each alert as JSON to this http(s) URL (from a background thread).
    source_name:
        The name events and alerts are logged under (default: the source's own name).
    """

    every_n_frames: int = 1
    full_detect_every: int = 5
    target_fps: float | None = None
    max_frames: int | None = None
    smoothing: str = "ema"
    min_confidence: float = 0.0
    live: bool | None = None
    with_frames: bool = False
    batch_frames: int = 8
    buffer_frames: int = 2
    attention: bool | dict[str, Any] | AttentionAnalyzer | None = None
    alerts: Sequence[str | Rule] = field(default_factory=tuple)
    log_events: bool = False
    event_interval_s: float = 1.0
    event_flush_s: float | None = None
    webhook: str | None = None
    source_name: str | None = None

    def rules(self) -> list[Rule]:
        """The alert rules, parsed (:func:`parse_rules`)."""
        return parse_rules(self.alerts)

    def video_options(self) -> dict[str, Any]:
        """The keyword arguments of :meth:`emolens.Analyzer.analyze_video` (without ``with_frames``)."""
        options = {k: getattr(self, k) for k in _VIDEO_KEYS}
        options.update(smoothing_options={"min_confidence": self.min_confidence}, attention=self.attention or None)
        return options


_VIDEO_KEYS = (
    "every_n_frames",
    "full_detect_every",
    "target_fps",
    "max_frames",
    "smoothing",
    "live",
    "batch_frames",
    "buffer_frames",
)


def parse_rules(specs: Sequence[str | Rule]) -> list[Rule]:
    """Alert rules from specs (``angry,fear:3:unknown``, ``drowsy:2``) or rule objects, in order.

    Raises
    ------
    ConfigError
        A spec cannot be parsed.
    """
    return [parse_rule(s) if isinstance(s, str) else s for s in specs]


def attention_kinds(specs: Sequence[str | Rule]) -> list[str]:
    """The kinds of the rules among ``specs`` that need the attention stage (``distracted``, ``drowsy``, ``yawn``).

    Raises
    ------
    ConfigError
        A spec cannot be parsed.
    """
    return [r.kind for r in parse_rules(specs) if isinstance(r, AttentionRule)]


def attention_target(target: str) -> tuple[dict[str, float], float | None]:
    """The target of an attention cone read from ``camera``, ``YAW,PITCH`` in degrees or ``calibrate:SECONDS``
    (the median head direction over the first SECONDS of video; 5 s without a number): the
    :class:`~emolens.attention.AttentionConfig` fields it sets, and the calibration seconds (None: no calibration).

    Raises
    ------
    ConfigError
        The target cannot be read.
    """
    t = target.strip().lower()
    if t == "calibrate" or t.startswith("calibrate:"):
        _, _, secs = t.partition(":")
        try:
            seconds = float(secs) if secs else 5.0
        except ValueError:
            raise ConfigError(f"--target {target!r}: expected calibrate:SECONDS") from None
        if not (math.isfinite(seconds) and seconds > 0):
            raise ConfigError(f"--target {target!r}: the calibration needs a positive number of seconds")
        return {}, seconds
    if t == "camera":
        return {}, None
    try:
        yaw, pitch = (float(v) for v in t.split(","))
    except ValueError:
        raise ConfigError(f"--target {target!r}: expected camera, YAW,PITCH or calibrate:SECONDS") from None
    return {"target_yaw": yaw, "target_pitch": pitch}, None


def check_attention(cone: float = 25.0, target: str = "camera") -> float | None:
    """Check a cone (degrees) and a target (:func:`attention_target`) as an attention stage would take them, before
    any model loads; the target's calibration seconds (None: it does not calibrate).

    Raises
    ------
    ConfigError
        The cone is not a number of degrees in (0, 180], or the target cannot be read.
    """
    from emolens.attention import AttentionConfig

    fields, calibrate = attention_target(target)
    AttentionConfig.from_options({"cone": cone, **fields})
    return calibrate


def attention_stage(
    cone: float = 25.0, target: str = "camera", threads: int = 0, keep_finished: bool = True
) -> AttentionAnalyzer:
    """An :class:`~emolens.attention.AttentionAnalyzer` for a cone (degrees) around a target
    (:func:`attention_target`); ``keep_finished`` as there.

    Raises
    ------
    ConfigError
        The target cannot be read.
    """
    from emolens.attention import AttentionAnalyzer

    fields, calibrate = attention_target(target)
    options = {"cone": cone, **fields}
    return AttentionAnalyzer(options, threads=threads, calibrate_s=calibrate, keep_finished=keep_finished)
