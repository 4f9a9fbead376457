"""Attention, drowsiness and yawns from the face mesh: head pose, eye openness, gaze, mouth opening, and their
course over time per track (focus spells, blinks, PERCLOS). See docs/attention.md.

    from emolens.attention import AttentionAnalyzer
    att = AttentionAnalyzer({"cone": 20})
    faces = att.faces(rgb, analyzer.analyze(rgb, color_order="rgb").faces)   # Face.pose, .eyes, .mouth, .attention
"""

from emolens.attention.estimate import AttentionAnalyzer, AttentionConfig, Measures, measure, still_face
from emolens.attention.tracking import Spell, TrackAttention, TrackTimings, calibrate_target, focus_spells, perclos

__all__ = [
    "AttentionAnalyzer",
    "AttentionConfig",
    "Measures",
    "Spell",
    "TrackAttention",
    "TrackTimings",
    "calibrate_target",
    "focus_spells",
    "measure",
    "perclos",
    "still_face",
]
