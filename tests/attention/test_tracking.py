"""Focus spells, blinks, PERCLOS and yawns on synthetic tracks whose answers are known."""

from __future__ import annotations

import numpy as np
import pytest

from emolens.attention import Spell, TrackAttention, TrackTimings, calibrate_target, focus_spells, perclos


def frames(seconds: float, fps: float = 10.0) -> np.ndarray:
    return np.arange(0, seconds, 1 / fps)


def test_focus_spells_bridge_short_glances_and_split_on_long_ones():
    t = frames(12)
    # attending 0-4 s, a 0.3 s glance away at 2 s (bridged), away 4-6 s, attending 6-9 s, away 9-12 s
    att = ((t < 4) & ~((t >= 2) & (t < 2.3))) | ((t >= 6) & (t < 9))
    spells = focus_spells(t, att, TrackTimings(spell_gap_s=1.0))
    assert [(round(s.start, 2), round(s.end, 2)) for s in spells] == [(0.0, 4.0), (6.0, 9.0)]
    assert [round(s.duration, 2) for s in spells] == [4.0, 3.0]


def test_focus_spell_open_at_the_end_is_closed_at_the_last_sample():
    t = frames(5)
    spells = focus_spells(t, t >= 2)
    assert len(spells) == 1 and spells[0].start == pytest.approx(2.0) and spells[0].end == pytest.approx(t[-1])


def test_min_spell_drops_short_spells():
    t = frames(10)
    att = ((t >= 1) & (t < 1.5)) | ((t >= 5) & (t < 8))
    spells = focus_spells(t, att, TrackTimings(min_spell_s=1.0))
    assert [(round(s.start, 1), round(s.end, 1)) for s in spells] == [(5.0, 8.0)]


def test_perclos_is_the_closed_share_of_the_window():
    fps, t = 30.0, frames(120, 30.0)
    closed = (t % 10) < 2.0  # closed 2 s out of every 10: PERCLOS 0.2 once the 60 s window is full
    p = perclos(t, closed, TrackTimings(perclos_window_s=60.0))
    assert p[0] is None
    assert p[-1] == pytest.approx(0.2, abs=1 / fps)
    assert max(x for x in p[int(61 * fps) :]) <= 0.2 + 2 / 60 + 1e-9


def test_perclos_zero_with_open_eyes_and_one_with_closed():
    t = frames(70, 25.0)
    assert perclos(t, np.zeros(len(t), bool))[-1] == 0.0
    assert perclos(t, np.ones(len(t), bool))[-1] == pytest.approx(1.0)


def test_perclos_waits_for_enough_samples():
    t = frames(20, 10.0)
    p = perclos(t, np.ones(len(t), bool), TrackTimings(perclos_min_s=10.0))
    assert all(x is None for x in p[:100]) and p[101] == pytest.approx(1.0)


def test_blinks_rate_and_long_closures():
    tr = TrackAttention(TrackTimings(blink_max_s=0.5))
    t = frames(60, 30.0)
    closed = ((t % 3.0) >= 1.0) & ((t % 3.0) < 1.2)  # a 0.2 s blink every 3 s: 20 per minute
    closed |= (t >= 40.5) & (t < 42.0)  # one 1.5 s closure (not a blink)
    out = [tr.update(float(x), True, bool(c), False) for x, c in zip(t, closed, strict=True)]
    tr.finish()
    assert len(tr.closures) == 1 and tr.closures[0].duration == pytest.approx(1.5, abs=0.05)
    assert len(tr.blinks) == 20  # at 1, 4, ..., 58 s (the closure at 40.5-42 s falls between two)
    assert sum(o["blink"] for o in out) == len(tr.blinks)
    assert out[-1]["blink_rate"] == pytest.approx(60.0 * len(tr.blinks) / t[-1], rel=0.05)


def test_yawn_needs_the_mouth_open_long_enough():
    tr = TrackAttention(TrackTimings(yawn_min_s=1.5))
    t = frames(20, 10.0)
    wide = ((t >= 2) & (t < 3)) | ((t >= 10) & (t < 14))  # 1 s (speech, surprise) and 4 s (a yawn)
    out = [tr.update(float(x), None, None, bool(w)) for x, w in zip(t, wide, strict=True)]
    assert [(round(s.start, 1), round(s.end, 1)) for s in tr.yawns] == [(10.0, 14.0)]
    yawning = [x for x, o in zip(t, out, strict=True) if o["yawn"]]
    assert min(yawning) == pytest.approx(11.5) and max(yawning) == pytest.approx(13.9)


def test_focus_s_counts_the_current_spell():
    tr = TrackAttention()
    outs = [tr.update(x, x >= 1.0, False, False) for x in frames(4)]
    assert outs[-1]["focus_s"] == pytest.approx(frames(4)[-1] - 1.0)
    assert outs[5]["focus_s"] == 0.0
    assert outs[5]["spell_start"] is None and outs[-1]["spell_start"] == pytest.approx(1.0)


def test_gaps_in_sampling_count_at_most_max_gap():
    tr = TrackAttention(TrackTimings(max_gap_s=1.0, perclos_min_s=0.0))
    tr.update(0.0, True, True, False)
    out = tr.update(30.0, True, False, False)  # 30 s without a sample: 1 s counted, closed
    assert out["perclos"] == pytest.approx(1.0)
    out = tr.update(31.0, True, False, False)
    assert out["perclos"] == pytest.approx(0.5)


def test_calibrate_target_is_the_median():
    assert calibrate_target([(10, -5), (12, -4), (50, 30), (11, -6)]) == (11.5, -4.5)
    with pytest.raises(ValueError):
        calibrate_target([(float("nan"), 0.0)])


def test_spell_dict():
    assert Spell(1.0, 3.5).to_dict() == {"start": 1.0, "end": 3.5, "duration": 2.5}


def test_a_finished_track_lets_go_of_its_perclos_samples_and_keeps_its_value():
    """A service runs for days: an ended track holds its spells and its last PERCLOS, not a minute of samples."""
    tr = TrackAttention()
    t = frames(90, 25.0)
    for x in t:
        tr.update(float(x), True, bool((x % 10) < 2.0), False)
    before = tr.perclos
    assert len(tr._window) > 1000 and before == pytest.approx(0.2, abs=0.05)
    tr.finish()
    assert len(tr._window) == 0 and tr.perclos == before and tr.spells


def test_an_attention_stage_that_keeps_no_finished_tracks(data_dir):
    """`keep_finished=False` (the service's source): ended tracks are not kept; by default they are, for reports."""
    from emolens.session import attention_stage

    kept, dropped = attention_stage(), attention_stage(keep_finished=False)
    for stage in (kept, dropped):
        stage._tracks[7] = TrackAttention()
        stage._tracks[7].update(0.0, True, False, False)
        stage.end_track(7)
    assert list(kept.finished) == [7] and dropped.finished == {} and not dropped._tracks
