"""Fusion rules, the learned fuser, time alignment, transcripts, and `emolens fuse` / `video --transcript`."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from typer.testing import CliRunner

from emolens.cli.main import app
from emolens.errors import ConfigError, DataError
from emolens.fusion import LearnedFusion, Segment, align, fuse, fuse_timeline, read_transcript, reliability
from emolens.labels import FER2013

K = len(FER2013)


def onehot(i: int, p: float = 0.9) -> np.ndarray:
    v = np.full(K, (1 - p) / (K - 1))
    v[i] = p
    return v


probs_st = st.lists(st.floats(0.01, 1.0), min_size=K, max_size=K).map(lambda v: np.asarray(v) / np.sum(v))


@given(st.lists(probs_st, min_size=1, max_size=3), st.sampled_from(["weighted", "entropy", "gated"]))
def test_rules_return_distributions_and_ignore_absent_modalities(rows, rule):
    p = np.stack(rows)
    out = fuse(p, rule=rule)
    assert out.shape == (K,) and out.sum() == pytest.approx(1) and (out >= 0).all()
    # an absent modality, whatever its numbers, changes nothing
    junk = np.vstack([p, np.full(K, np.nan)])
    assert np.allclose(fuse(junk, np.r_[np.ones(len(p), bool), False], rule=rule), out)


def test_rule_behaviour():
    sure, flat = onehot(3, 0.95), np.full(K, 1 / K)
    assert reliability(sure) > 0.7 and reliability(flat) == pytest.approx(0, abs=1e-9)
    p = np.stack([sure, onehot(0, 0.4)])
    assert np.argmax(fuse(p, rule="weighted", weights=[0.1, 1])) == 0  # the weights decide
    assert np.argmax(fuse(np.stack([sure, flat]), rule="entropy")) == 3
    gated = fuse(np.stack([onehot(2, 0.8), onehot(5, 0.3)]), rule="gated", gate=0.5)
    assert np.allclose(gated, onehot(2, 0.8))  # only the confident modality speaks
    nobody = fuse(np.stack([onehot(2, 0.3), onehot(5, 0.3)]), rule="gated", gate=0.9)
    assert np.allclose(nobody, (onehot(2, 0.3) + onehot(5, 0.3)) / 2)  # none confident: all present ones
    assert np.allclose(fuse(p, np.zeros(2, bool)), 1 / K)  # nothing present: uniform
    with pytest.raises(ConfigError):
        fuse(p, rule="vote")
    with pytest.raises(ConfigError):
        fuse(p, rule="weighted", weights=[1])


def test_learned_fusion_learns_which_modality_to_trust(tmp_path):
    rng = np.random.default_rng(0)
    n = 1500
    y = rng.integers(0, K, n)
    good = np.stack([onehot(c, rng.uniform(0.4, 0.9)) for c in y])  # right label
    noisy = np.stack([onehot(rng.integers(0, K), 0.9) for _ in y])  # confident and random
    present = np.ones((n, 2), bool)
    present[: n // 4, 0] = False  # sometimes the good one is missing
    p = np.stack([good, noisy], 1)
    model = LearnedFusion.fit(p[:1000], present[:1000], y[:1000], ("face", "voice"), FER2013, steps=400)
    pred = model.predict(p[1000:], present[1000:]).argmax(1)
    has_good = present[1000:, 0]
    assert (pred[has_good] == y[1000:][has_good]).mean() > 0.95
    assert (fuse(p[1000:], present[1000:], rule="weighted").argmax(1)[has_good] == y[1000:][has_good]).mean() < 0.9
    model.save(tmp_path / "f.json")
    again = LearnedFusion.load(tmp_path / "f.json")
    assert np.allclose(again.predict(p[:5], present[:5]), model.predict(p[:5], present[:5]), atol=1e-5)


def test_align_weights_segments_by_overlap():
    streams = {
        "face": [Segment(0.0, 0.5, tuple(onehot(3))), Segment(0.5, 1.0, tuple(onehot(4)))],
        "voice": [Segment(0.5, 2.5, tuple(onehot(0)))],
        "text": [],
    }
    times, p, present = align(streams, step=1.0)
    assert list(times) == [0.0, 1.0, 2.0]
    assert np.allclose(p[0, 0], (onehot(3) + onehot(4)) / 2)
    assert present.tolist() == [[True, True, False], [False, True, False], [False, True, False]]
    rows = fuse_timeline(streams, step=1.0)
    assert [r["modalities"] for r in rows] == [["face", "voice"], ["voice"], ["voice"]]
    assert rows[1]["label"] == "angry" and rows[1]["face"] is None


def test_transcripts(tmp_path):
    (tmp_path / "a.srt").write_text(
        "1\n00:00:01,000 --> 00:00:02,500\nI love this!\n\n2\n00:00:03,000 --> 00:00:04,000\n<i>So sad.</i>\n"
    )
    (tmp_path / "b.vtt").write_text("WEBVTT\n\n00:01.000 --> 00:02.500\nI love this!\n")
    (tmp_path / "c.csv").write_text('start,end,text\n1,2.5,"I love this!"\n')
    (tmp_path / "d.jsonl").write_text(json.dumps({"start": 1, "end": 2.5, "text": "I love this!"}) + "\n")
    cues = [read_transcript(tmp_path / f) for f in ("a.srt", "b.vtt", "c.csv", "d.jsonl")]
    assert cues[0][1].text == "So sad." and cues[0][1].start == 3.0
    assert all(c[0].start == 1.0 and c[0].end == 2.5 and c[0].text == "I love this!" for c in cues)
    (tmp_path / "e.srt").write_text("nothing timed here\n")
    with pytest.raises(DataError):
        read_transcript(tmp_path / "e.srt")


def test_cli_fuse_and_video_transcript(tmp_path, data_dir):
    (tmp_path / "t.srt").write_text(
        "1\n00:00:00,000 --> 00:00:01,500\nWhat a wonderful, happy day, I love it!\n\n"
        "2\n00:00:02,000 --> 00:00:03,000\nI am so sad and lonely, I miss her.\n"
    )
    clip = data_dir / "videos" / "single_face.mp4"
    r = CliRunner().invoke(
        app,
        [
            "video",
            str(clip),
            "--output",
            str(tmp_path / "v"),
            "--max-frames",
            "75",
            "--no-plots",
            "-q",
            "--audio",
            "--transcript",
            str(tmp_path / "t.srt"),
        ],
    )
    assert r.exit_code == 0, r.output
    assert "no audio" in " ".join(r.output.split())  # the shared clips are silent: said, and the rest is fused
    rows = list(csv.DictReader((tmp_path / "v" / "fused.csv").open()))
    assert len(rows) == 3 and rows[0]["modalities"] == "face+text" and rows[2]["modalities"] == "face+text"
    text_rows = list(csv.DictReader((tmp_path / "v" / "text.csv").open()))
    assert len(text_rows) == 2
    assert max(FER2013, key=lambda lab: float(text_rows[0][f"p_{lab}"])) == "happy"
    assert max(FER2013, key=lambda lab: float(text_rows[1][f"p_{lab}"])) == "sad"
    out = tmp_path / "f.json"
    r = CliRunner().invoke(
        app,
        [
            "fuse",
            "--face",
            str(tmp_path / "v" / "frames.csv"),
            "--text",
            str(tmp_path / "t.srt"),
            "--rule",
            "gated",
            "--weights",
            "face=1,text=2",
            "-o",
            str(out),
        ],
    )
    assert r.exit_code == 0, r.output
    fused = json.loads(out.read_text())
    assert fused[0]["fused"] and fused[0]["label"] in FER2013
    r = CliRunner().invoke(app, ["fuse", "-o", str(out)])
    assert r.exit_code == 2
    r = CliRunner().invoke(app, ["fuse", "--text", str(tmp_path / "t.srt"), "--weights", "eyes=2"])
    assert r.exit_code == 2


def test_subtitle_spellings(tmp_path):
    """SRT/WebVTT as players write them: cue ids, hours, cue settings, styling, notes, multi-line cues, a BOM, CRLF."""
    (tmp_path / "a.vtt").write_text(
        "WEBVTT - made by hand\n\nNOTE a comment that is not a cue\n\n"
        "intro\n01:00:01.250 --> 01:00:03.000 align:start position:10%\n<v Ann>I love\n<b>this</b> place!</v>\n\n"
        "00:02.000 --> 00:02.500\n\n"  # an empty cue: left out
        "3\n00:00:04.000 --> 00:00:05.000\n&lt;so sad&gt;\n",
        encoding="utf-8",
    )
    cues = read_transcript(tmp_path / "a.vtt")
    assert [(c.start, c.end) for c in cues] == [(3601.25, 3603.0), (4.0, 5.0)]
    assert cues[0].text == "I love this place!" and cues[1].text == "<so sad>"
    (tmp_path / "b.srt").write_bytes(
        "\ufeff1\r\n00:00:01,000 --> 00:00:02,500\r\n{\\i1}Ça va?{\\i0}\r\nTrès bien.\r\n\r\n".encode()
    )
    (cue,) = read_transcript(tmp_path / "b.srt")
    assert (cue.start, cue.end, cue.text) == (1.0, 2.5, "Ça va? Très bien.")
