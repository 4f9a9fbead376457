"""The alert engine runs every kind of rule through one interface (``check`` + ``applies_to``), so a rule written
outside emolens plugs in like the emotion and attention rules do."""

from __future__ import annotations

import pytest

from emolens.errors import ConfigError
from emolens.events import Alert, AlertEngine, AlertRule, AttentionRule, parse_rule
from emolens.identity.schema import ALERT_COLUMNS
from emolens.types import Box, EmotionScores, Face

LABELS = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")


def _face(label: str, p: float, track: int, identity: str | None = None, size: float = 10) -> Face:
    probs = tuple(p if lab == label else (1 - p) / 6 for lab in LABELS)
    box = Box(0, 0, size, size)
    return Face(0, box, 0.9, None, EmotionScores(LABELS, probs), identity=identity, track_id=track)


class CloseUp:
    """A rule from outside emolens: a face larger than ``pixels`` for ``min_seconds``."""

    name = "close-up"
    min_seconds = 1.0

    def __init__(self, pixels: float) -> None:
        self.pixels = pixels

    def applies_to(self, identity: str | None) -> bool:
        return identity is None

    def check(self, face: Face) -> tuple[bool, str, float]:
        return face.box.size > self.pixels, "close-up", face.box.size


def test_a_custom_rule_runs_beside_the_emotion_rule():
    seen: list[Alert] = []
    engine = AlertEngine([CloseUp(50), AlertRule(("happy",), 0.5, 0.6)], callbacks=[seen.append])
    for k in range(30):  # 3 s: the face grows from 10 to 97 pixels, happy throughout
        t = k / 10
        engine.update("cam", t, _face("happy", 0.8, 1, size=10 + 3 * k))
        engine.update("cam", t, _face("happy", 0.8, 2, identity="ada", size=200))  # not for the custom rule
    kinds = [(a.rule, a.track) for a in seen]
    assert kinds.count(("close-up", 1)) == 1 and ("close-up", 2) not in kinds
    close = next(a for a in seen if a.rule == "close-up")
    assert close.started == pytest.approx(1.4) and close.duration_s == pytest.approx(1.0, abs=0.11)
    assert close.peak_score == pytest.approx(10 + 30 * (close.started + close.duration_s))  # its size when it fired
    assert {a.track for a in seen if a.rule.startswith("happy")} == {1, 2}


def test_alert_dict_is_a_row_of_the_alerts_table():
    a = Alert("r", "cam", 3, "ada", "angry", 1.23456, 2.00049, 0.912345, time=5.0)
    d = a.to_dict()
    assert tuple(d) == ALERT_COLUMNS
    assert (d["started"], d["duration_s"], d["peak_score"]) == (1.235, 2.0, 0.9123)


@pytest.mark.parametrize(
    ("spec", "kind", "seconds", "who"),
    [
        ("angry,fear:3:unknown", AlertRule, 3.0, "unknown"),
        ("sad", AlertRule, 3.0, "any"),
        ("drowsy::known:0.2", AttentionRule, 2.0, "known"),
        ("yawn", AttentionRule, 0.0, "any"),
    ],
)
def test_parse_rule_picks_the_kind_and_its_defaults(spec, kind, seconds, who):
    rule = parse_rule(spec)
    assert isinstance(rule, kind) and rule.min_seconds == seconds and rule.who == who
    assert rule.applies_to("ada") is (who in ("any", "known"))
    assert rule.applies_to(None) is (who in ("any", "unknown"))


@pytest.mark.parametrize("spec", ["angry:soon", "drowsy:2:any:high", ":3", "furious:2"])
def test_bad_rule_specs_raise_config_errors(spec):
    with pytest.raises(ConfigError):
        parse_rule(spec)
