"""Video analysis: sources, tracker, smoothing, pipeline and writers, on the real clips in ../shared/datasets/videos.

The clips' ground truth is read from their ``.json`` files (0-based frame numbers, inclusive ranges).
"""

from __future__ import annotations

import csv
import functools
import http.server
import itertools
import json
import subprocess
import sys
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from emolens import Analyzer
from emolens.errors import ConfigError, VideoError
from emolens.types import Box, Detection, EmotionScores, Face, FrameResult
from emolens.video import (
    Frame,
    SmoothingConfig,
    Tracker,
    TrackSmoother,
    VideoSource,
    count_label_changes,
    open_source,
)
from emolens.video.pipeline import wait_idle
from emolens.video.tracker import linear_assignment
from emolens.video.writers import frames_to_dataframe, table_columns

EMOLENS = [str(Path(sys.executable).with_name("emolens"))]


@pytest.fixture(scope="module")
def videos(data_dir: Path) -> Path:
    path = data_dir / "videos"
    if not (path / "single_face.mp4").is_file():
        pytest.fail(f"test clips not found in {path}", pytrace=False)
    return path


@pytest.fixture(scope="module")
def analyzer() -> Analyzer:
    return Analyzer("blazeface", threads=1)


def truth(videos: Path, name: str) -> dict:
    return json.loads((videos / f"{name}.json").read_text())


def track_frames(results) -> tuple[dict[int, list[int]], list[int]]:
    """Frames of each track id, and the indices of all analysed frames."""
    tracks: dict[int, list[int]] = defaultdict(list)
    frames = []
    for r in results:
        frames.append(r.index)
        for f in r:
            tracks[f.track_id].append(r.index)
    return dict(tracks), frames


# ------------------------------------------------------------------------------------------ real clips, tracking


def test_single_face_clip_gives_one_track_over_nearly_all_frames(analyzer, videos):
    gt = truth(videos, "single_face")
    tracks, frames = track_frames(analyzer.analyze_video(videos / "single_face.mp4"))
    assert frames == list(range(gt["frames"]))
    assert len(tracks) == 1, f"expected one track, got {sorted(tracks)}"
    (seen,) = tracks.values()
    assert len(seen) >= 0.97 * gt["frames"]
    assert seen[0] <= 2 and seen[-1] >= gt["frames"] - 3


def test_face_then_noface_track_ends_within_a_few_frames_of_the_truth(analyzer, videos):
    gt = truth(videos, "face_then_noface")
    last_face = gt["face_visible_frames"][0][1]  # 46 (partly cut by the frame edge from 36)
    tracks, frames = track_frames(analyzer.analyze_video(videos / "face_then_noface.mp4"))
    assert len(frames) == gt["frames"]
    assert len(tracks) == 1, f"expected one track, got {sorted(tracks)}"
    (seen,) = tracks.values()
    assert seen[0] <= 2
    assert abs(seen[-1] - last_face) <= 5, f"track ends at {seen[-1]}, the face leaves after {last_face}"


def test_noface_then_face_track_starts_within_a_few_frames_of_the_truth(analyzer, videos):
    gt = truth(videos, "noface_then_face")
    first_face = gt["face_visible_frames"][0][0]  # 75, a hard cut
    tracks, frames = track_frames(analyzer.analyze_video(videos / "noface_then_face.mp4"))
    assert len(frames) == gt["frames"]
    assert len(tracks) == 1, f"expected one track, got {sorted(tracks)}"
    (seen,) = tracks.values()
    assert first_face <= seen[0] <= first_face + 3, f"track starts at {seen[0]}, the face appears at {first_face}"
    assert seen[-1] >= gt["frames"] - 3
    assert len(seen) >= 0.97 * (gt["frames"] - first_face)


def test_stage_clip_gives_three_tracks(analyzer, videos):
    gt = truth(videos, "stage_three")
    run = analyzer.analyze_video(videos / "stage_three.mp4")
    tracks, frames = track_frames(run)
    assert len(frames) == gt["frames"]
    assert len(tracks) == gt["expected_people"] == 3, f"got tracks {sorted(tracks)}"
    assert all(len(seen) >= 0.9 * gt["frames"] for seen in tracks.values())
    # faces of several frames share one emotion-model call (files wait for a batch of 8 frames)
    assert run.stats.max_batch_faces == 8 * 3
    assert run.stats.model_calls <= -(-gt["frames"] // 8)


def test_every_n_frames_and_target_fps_sampling(analyzer, videos):
    clip = videos / "stage_three.mp4"  # 30000/1001 fps
    results = list(analyzer.analyze_video(clip, every_n_frames=3, max_frames=30))
    assert [r.index for r in results] == list(range(0, 30, 3))
    assert all(len(r.faces) >= 2 for r in results)  # a fast-moving small face may miss a match at 1/3 the rate
    results = list(analyzer.analyze_video(clip, target_fps=10, max_frames=60))
    idx = [r.index for r in results]
    assert 19 <= len(idx) <= 21, idx
    assert set(np.diff(idx)) <= {2, 3, 4}
    ts = [r.timestamp for r in results]
    assert ts[0] == 0 and abs(ts[1] - idx[1] * 1001 / 30000) < 1e-3


def test_results_to_dataframe_one_row_per_face_per_frame(analyzer, videos):
    results = list(analyzer.analyze_video(videos / "stage_three.mp4", max_frames=10))
    df = frames_to_dataframe(results)
    labels = results[0].faces[0].emotions.labels
    assert list(df.columns) == table_columns(labels)
    assert len(df) == sum(len(r) for r in results) == 30
    assert df.groupby("frame").size().tolist() == [3] * 10
    assert np.allclose(df[[f"p_{x}" for x in labels]].sum(axis=1), 1, atol=1e-3)
    assert np.allclose(df[[f"s_{x}" for x in labels]].sum(axis=1), 1, atol=1e-3)
    d = results[0].to_dict()
    assert d["frame"] == 0 and len(d["faces"]) == 3
    assert {"track_id", "smoothed", "smoothed_label"} <= set(d["faces"][0])


# ------------------------------------------------------------------------------------------------ CLI and files


def run_cli(*args, cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run(EMOLENS + [str(a) for a in args], capture_output=True, text=True, cwd=cwd, timeout=300)


def test_cli_outputs_parse_with_one_row_per_face_per_analysed_frame(videos, tmp_path):
    out = tmp_path / "out"
    r = run_cli(
        "video", videos / "stage_three.mp4", "--output", out, "--every", 2, "--max-frames", 20, "--annotate", out, "-q"
    )
    assert r.returncode == 0, r.stderr
    with open(out / "frames.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    analysed = list(range(0, 20, 2))
    assert len(rows) == 3 * len(analysed)
    assert sorted({int(x["frame"]) for x in rows}) == analysed
    assert Counter(int(x["frame"]) for x in rows) == dict.fromkeys(analysed, 3)
    assert {x["track_id"] for x in rows} == {"1", "2", "3"}
    assert all(x["label"] and x["smoothed_label"] for x in rows)

    import pandas as pd

    pq = pd.read_parquet(out / "frames.parquet")
    assert list(pq.columns) == list(rows[0].keys())
    assert pq["frame"].tolist() == [int(x["frame"]) for x in rows]
    assert pq["track_id"].tolist() == [int(x["track_id"]) for x in rows]

    summary = json.loads((out / "tracks.json").read_text())
    assert summary["frames_analysed"] == len(analysed) and summary["complete"] is True
    assert [t["track_id"] for t in summary["tracks"]] == [1, 2, 3]
    assert sum(t["frames"] for t in summary["tracks"]) == len(rows)
    for t in summary["tracks"]:
        assert abs(sum(t["share"].values()) - 1) < 1e-3
        assert t["dominant_emotion"] == max(t["share"], key=t["share"].get)
        assert -1 <= t["mean_valence"] <= 1
        assert (t["first_frame"], t["last_frame"]) == (0, 18)
    for tid in (1, 2, 3):
        png = cv2.imread(str(out / f"timeline_track_{tid}.png"))
        assert png is not None and png.shape[1] > 300
    cap = cv2.VideoCapture(str(out / "annotated.mp4"))
    assert int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) == len(analysed)
    assert (int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT))) == (640, 480)
    cap.release()


@pytest.fixture(scope="module")
def truncated(videos, tmp_path_factory) -> Path:
    """The single-face clip cut at 40% of its bytes (its header still says 472 frames)."""
    data = (videos / "single_face.mp4").read_bytes()
    path = tmp_path_factory.mktemp("trunc") / "single_face_cut.mp4"
    path.write_bytes(data[: int(len(data) * 0.4)])
    return path


def test_truncated_clip_gives_partial_results_then_a_clear_error(analyzer, truncated):
    got = []
    with pytest.raises(VideoError, match=r"ends early: decoded \d+ of 472 frames") as info:
        for r in analyzer.analyze_video(truncated):
            got.append(r.index)
    assert 50 < len(got) < 472
    assert got == list(range(len(got)))
    assert str(truncated) in str(info.value) and "\n" not in str(info.value)


def test_cli_truncated_clip_keeps_partial_outputs_and_exits_1(truncated, tmp_path):
    r = run_cli("video", truncated, "--output", tmp_path, "-q", "--no-plots")
    assert r.returncode == 1, r.stderr
    assert "ends early" in r.stderr and "Traceback" not in r.stderr
    with open(tmp_path / "frames.csv", newline="") as fh:
        n_rows = sum(1 for _ in csv.DictReader(fh))
    summary = json.loads((tmp_path / "tracks.json").read_text())
    assert summary["complete"] is False and "ends early" in summary["error"]
    assert n_rows == summary["frames_with_faces"] > 50
    import pandas as pd

    assert len(pd.read_parquet(tmp_path / "frames.parquet")) == n_rows  # a valid file despite the failure


def test_unreadable_inputs_fail_at_once_with_one_line(analyzer, tmp_path, videos):
    garbage = tmp_path / "garbage.mp4"
    garbage.write_bytes(np.random.default_rng(0).integers(0, 256, 20000, dtype=np.uint8).tobytes())
    tiny = tmp_path / "tiny.mp4"
    tiny.write_bytes((videos / "single_face.mp4").read_bytes()[:1000])
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    for path in (garbage, tiny, empty):
        with pytest.raises(VideoError, match=r"cannot open as a video|no frame could be decoded") as info:
            analyzer.analyze_video(path)  # raises on the call, before any iteration
        assert info.value.source == str(path)
    with pytest.raises(VideoError, match="file not found"):
        analyzer.analyze_video(tmp_path / "missing.mp4")
    r = run_cli("video", garbage, "--output", tmp_path / "o")
    assert r.returncode == 1 and r.stderr.count("\n") == 1 and "cannot open as a video" in r.stderr


def test_missing_camera_is_reported_clearly(analyzer, tmp_path):
    if Path("/dev/video63").exists():
        pytest.skip("this machine has a /dev/video63")
    with pytest.raises(VideoError, match=r"^no camera at index 63"):
        open_source(63)
    with pytest.raises(VideoError, match=r"^no camera at index 63"):
        analyzer.analyze_video("63")
    r = run_cli("video", "63", "--output", "o", cwd=tmp_path)
    assert r.returncode == 1 and "no camera at index 63" in r.stderr


def test_bad_options_raise_config_error_at_call(analyzer, videos):
    clip = videos / "stage_three.mp4"
    with pytest.raises(ConfigError, match="unknown smoothing"):
        analyzer.analyze_video(clip, smoothing="median")
    with pytest.raises(ConfigError, match="every_n_frames"):
        analyzer.analyze_video(clip, every_n_frames=0)
    with pytest.raises(ConfigError, match="unknown tracker option"):
        analyzer.analyze_video(clip, tracking={"max_agee": 3})
    with pytest.raises(ConfigError, match="alpha"):
        analyzer.analyze_video(clip, smoothing_options={"alpha": 0})


@pytest.fixture()
def http_server(tmp_path) -> Iterator[tuple[str, Path]]:
    """A static HTTP server on 127.0.0.1 serving ``tmp_path``."""
    handler = functools.partial(_QuietHandler, directory=str(tmp_path))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", tmp_path
    finally:
        server.shutdown()
        server.server_close()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:
        pass


def test_http_stream_that_drops_ends_cleanly_with_what_was_read(analyzer, http_server, truncated, videos):
    base, root = http_server
    (root / "cut.mp4").write_bytes(truncated.read_bytes())
    (root / "stage.mp4").write_bytes((videos / "stage_three.mp4").read_bytes())
    full = list(analyzer.analyze_video(f"{base}/stage.mp4"))
    assert len(full) == 90 and {f.track_id for r in full for f in r} == {1, 2, 3}
    run = analyzer.analyze_video(f"{base}/cut.mp4")  # a URL: the connection ends, no error
    got = [r.index for r in run]
    assert 50 < len(got) < 472 and got == list(range(len(got)))
    assert not run.source.live  # http is lossless by default
    with pytest.raises(VideoError, match="cannot open the stream"):
        analyzer.analyze_video(f"{base}/nothing-here.mp4")


def test_image_sequence_folder_in_natural_order_and_bad_image_reported(analyzer, videos, tmp_path):
    cap = cv2.VideoCapture(str(videos / "stage_three.mp4"))
    for i in range(12):
        ok, bgr = cap.read()
        assert ok
        cv2.imwrite(str(tmp_path / f"f{i + 1}.png"), bgr)  # f1 .. f12: natural order, not f1, f10, f11, f12, f2
    cap.release()
    results = list(analyzer.analyze_video(tmp_path, sequence_fps=10))
    assert [r.index for r in results] == list(range(12))
    assert [r.timestamp for r in results] == pytest.approx([i / 10 for i in range(12)])
    tracks, _ = track_frames(results)
    assert sorted(tracks) == [1, 2, 3] and all(v == list(range(12)) for v in tracks.values())

    (tmp_path / "f5.png").write_bytes(b"not a png")
    got = []
    with pytest.raises(VideoError, match=r"1 of 12 images could not be read \(first: f5\.png"):
        for r in analyzer.analyze_video(tmp_path):
            got.append(r.index)
    assert got == [0, 1, 2, 3, 5, 6, 7, 8, 9, 10, 11]


class _FastLiveSource(VideoSource):
    """A synthetic live source: ``n`` grey frames as fast as it can."""

    live = True
    name = "synthetic"

    def __init__(self, n: int) -> None:
        self.n = n

    def __iter__(self) -> Iterator[Frame]:
        for i in range(self.n):
            yield Frame(i, i / 30, np.full((120, 160, 3), 128, np.uint8), time.perf_counter())


def test_live_source_drops_oldest_frames_when_behind(analyzer):
    run = analyzer.analyze_video(_FastLiveSource(100), buffer_frames=2)
    got = []
    for r in run:
        got.append(r.index)
        time.sleep(0.02)  # a slow consumer
    assert run.stats.frames_dropped > 0
    assert len(got) + run.stats.frames_dropped == 100
    assert got == sorted(got) and got[-1] == 99  # the newest frame is kept


def test_closing_early_stops_the_threads(analyzer, videos):
    run = analyzer.analyze_video(videos / "single_face.mp4")
    first = list(itertools.islice(run, 5))
    assert [r.index for r in first] == [0, 1, 2, 3, 4]
    run.close()
    assert wait_idle(run, 5)
    assert next(run, None) is None
    assert run.stats.frames_read < 472


# ---------------------------------------------------------------------------------------------------- tracker


def det(x: float, y: float, score: float = 0.9, size: float = 40.0) -> Detection:
    return Detection(Box(x, y, x + size, y + size), score)


def test_tracker_survives_a_short_gap_and_never_reuses_ids():
    tr = Tracker({"max_age": 10, "min_hits": 3})
    ids = [[t.track_id for t in tr.update([det(100 + 2 * i, 50)])] for i in range(20)]
    assert ids == [[1]] * 20  # first-frame tracks are confirmed at once
    for _ in range(8):  # hidden for 8 frames
        assert tr.update([]) == []
    # back where constant velocity puts it: same id
    assert [t.track_id for t in tr.update([det(100 + 2 * 28, 50)])] == [1]
    for _ in range(11):  # hidden longer than max_age
        tr.update([])
    assert tr.removed_ids == [1]
    seen = []
    for i in range(5):
        seen.append([t.track_id for t in tr.update([det(100 + 2 * (40 + i), 50)])])
    assert seen == [[], [], [2], [2], [2]]  # a new track, confirmed after min_hits, with a new id


def test_tracker_finds_a_still_face_again_after_its_velocity_drifted():
    tr = Tracker({"max_age": 30})
    for i in range(10):  # moving right, then stops and is hidden
        tr.update([det(100 + 5 * i, 80)])
    for _ in range(20):
        tr.update([])
    assert [t.track_id for t in tr.update([det(145, 80)])] == [1]  # the last seen place, far from the prediction


def test_tracker_low_scores_extend_tracks_but_never_start_them():
    tr = Tracker({"high_score": 0.5, "low_score": 0.2, "min_hits": 1})
    assert [t.track_id for t in tr.update([det(10, 10)])] == [1]
    for i in range(1, 6):  # the face turns: low scores, the track goes on; a low-score blob elsewhere does not
        out = tr.update([det(10 + i, 10, score=0.3), det(300, 300, score=0.4)])
        assert [t.track_id for t in out] == [1]
    assert tr.ids_assigned == 1
    assert tr.update([det(10, 10, score=0.1)]) == []  # under low_score: ignored


def test_tracker_keeps_ids_through_a_crossing():
    tr = Tracker({"min_hits": 1})
    first_a = first_b = None
    for i in range(30):  # a moves right, b moves left, slightly lower; they overlap around i = 15
        da, db = det(20 + 8 * i, 100), det(260 - 8 * i, 110)
        ids = {t.detection: t.track_id for t in tr.update([da, db])}
        a, b = ids[da], ids[db]
        if i == 0:
            first_a, first_b = a, b
        assert (a, b) == (first_a, first_b), f"ids swapped at frame {i}"


def test_tracker_min_hits_hold_back_new_tracks():
    tr = Tracker({"min_hits": 3})
    assert tr.update([]) == []
    reported = [[t.track_id for t in tr.update([det(50 + i, 50)])] for i in range(4)]
    assert reported == [[], [], [1], [1]]
    # a tentative track that misses a frame is dropped without using an id
    tr.update([det(400, 400)])
    tr.update([])
    tr.update([det(400, 400)])
    assert tr.ids_assigned == 1


@given(
    st.lists(
        st.lists(st.tuples(st.integers(0, 6), st.floats(0.0, 1.0)), max_size=6),
        min_size=1,
        max_size=40,
    ),
    st.integers(0, 5),
    st.integers(1, 3),
)
def test_tracker_ids_are_unique_per_frame_and_never_reused(frames, max_age, min_hits):
    tr = Tracker({"max_age": max_age, "min_hits": min_hits})
    removed: set[int] = set()
    highest = 0
    for frame in frames:
        dets = [det(60 * slot + (k % 3), 40 + 10 * (slot % 2), score) for k, (slot, score) in enumerate(frame)]
        ids = [t.track_id for t in tr.update(dets)]
        assert len(ids) == len(set(ids))
        assert not set(ids) & removed
        new = [i for i in ids if i > highest]
        assert sorted(new) == list(range(highest + 1, highest + 1 + len(new)))  # given in order, no gaps
        highest = max([highest, *ids])
        assert set(tr.removed_ids).isdisjoint(removed)
        removed.update(tr.removed_ids)
        assert tr.ids_assigned >= highest


@given(
    st.integers(1, 5).flatmap(
        lambda n: st.integers(1, 5).flatmap(
            lambda m: st.lists(st.lists(st.floats(0, 10), min_size=m, max_size=m), min_size=n, max_size=n)
        )
    )
)
def test_linear_assignment_is_optimal(cost):
    c = np.array(cost)
    n, m = c.shape
    pairs = linear_assignment(c)
    assert len(pairs) == min(n, m)
    assert len({r for r, _ in pairs}) == len({col for _, col in pairs}) == len(pairs)
    if n <= m:
        best = min(sum(c[i, p[i]] for i in range(n)) for p in itertools.permutations(range(m), n))
    else:
        best = min(sum(c[p[j], j] for j in range(m)) for p in itertools.permutations(range(n), m))
    assert sum(c[r, col] for r, col in pairs) == pytest.approx(best)


# -------------------------------------------------------------------------------------------------- smoothing

LABELS = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")


def flicker(n: int = 300, seed: int = 0) -> tuple[np.ndarray, list[str]]:
    """Happy then sad (the truth switches at n/2), with neutral close behind: the raw top class flickers."""
    rng = np.random.default_rng(seed)
    truth_labels = ["happy"] * (n // 2) + ["sad"] * (n - n // 2)
    probs = np.full((n, len(LABELS)), 0.03)
    for i, t in enumerate(truth_labels):
        probs[i, LABELS.index(t)] = 0.44 + rng.normal(0, 0.06)
        probs[i, LABELS.index("neutral")] = 0.38 + rng.normal(0, 0.06)
    probs = np.clip(probs, 0.001, None)
    return probs / probs.sum(axis=1, keepdims=True), truth_labels


def smooth(probs: np.ndarray, **options) -> list[str]:
    sm = TrackSmoother(LABELS, SmoothingConfig.from_options(options.pop("method"), options))
    return [sm.update(1, p)[1] for p in probs]


def test_smoothing_reduces_label_changes_on_a_flickering_sequence():
    probs, truth_labels = flicker()
    raw = [LABELS[i] for i in probs.argmax(axis=1)]
    none = smooth(probs, method="none")
    ema = smooth(probs, method="ema", alpha=0.3)
    hyst = smooth(probs, method="hysteresis", alpha=0.3, margin=0.05, hold_frames=4)
    n_raw, n_ema, n_hyst = (count_label_changes(x) for x in (raw, ema, hyst))
    assert none == raw
    assert n_raw >= 30
    assert n_ema <= n_raw / 3
    assert n_hyst <= 3 and n_hyst <= n_ema
    # smoothing must still follow the real change: sad within 15 frames of the switch, and at the end
    for labels in (ema, hyst):
        assert labels[-1] == "sad" and "sad" in labels[150:165]
        assert sum(a == b for a, b in zip(labels, truth_labels, strict=True)) > 0.85 * len(labels)


def test_confidence_threshold_gives_uncertain_or_keeps_the_label():
    p_happy = np.array([0.02, 0.02, 0.02, 0.8, 0.04, 0.05, 0.05])
    p_flat = np.full(7, 1 / 7)
    ema = smooth(np.array([p_happy, p_flat, p_flat, p_flat]), method="ema", alpha=1.0, min_confidence=0.5)
    assert ema == ["happy", "uncertain", "uncertain", "uncertain"]
    hyst = smooth(np.array([p_flat, p_happy] + [p_flat] * 5), method="hysteresis", alpha=1.0, min_confidence=0.5)
    assert hyst == ["uncertain"] + ["happy"] * 6  # starts uncertain, then keeps its label through unsure frames


def test_smoother_state_per_track_and_drop():
    sm = TrackSmoother(LABELS, SmoothingConfig(alpha=0.5))
    a = np.eye(7)[3]
    b = np.eye(7)[4]
    sm.update(1, a)
    s2, label2 = sm.update(2, b)
    assert label2 == "sad" and s2[4] == 1  # track 2 is not mixed with track 1
    s1, _ = sm.update(1, b)
    assert s1[3] == pytest.approx(0.5) and s1[4] == pytest.approx(0.5)
    sm.drop(1)
    sm.drop(2)
    assert len(sm) == 0


def test_face_to_dict_keeps_image_keys_and_adds_tracking_only_when_tracked():
    scores = EmotionScores(LABELS, tuple(np.eye(7)[3]))
    plain = Face(0, Box(0, 0, 10, 10), 0.9, None, scores)
    assert "track_id" not in plain.to_dict()
    tracked = Face(0, Box(0, 0, 10, 10), 0.9, None, scores, track_id=4, smoothed=scores, smoothed_label="happy")
    d = tracked.to_dict()
    assert {k: d[k] for k in ("track_id", "smoothed_label")} == {"track_id": 4, "smoothed_label": "happy"}
    assert set(plain.to_dict()) < set(d)
    fr = FrameResult(7, 0.28, (tracked,), 64, 48)
    assert len(fr) == 1 and fr[0] is tracked and fr.to_dict()["faces"][0]["track_id"] == 4
