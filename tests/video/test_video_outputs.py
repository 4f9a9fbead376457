"""What ``emolens video --output`` leaves to look at and share: an H.264 annotated.mp4 that plays in headless
Chromium, each track's best face in its timeline, and the summary sheet (summary.html, summary.png).

The browser part drives Debian's ``/usr/bin/chromium`` through Playwright, as the dashboard's browser test does;
it skips only when Chromium or Playwright is missing (CI installs both).
"""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path

import cv2
import numpy as np
import pytest
from typer.testing import CliRunner

from emolens import Analyzer
from emolens.cli.main import app
from emolens.video.writers import AnnotatedVideoWriter, plot_timeline

CHROMIUM = "/usr/bin/chromium"
FRAMES = 24  # analysed frames: every 2nd of the first 48 of stage_three.mp4
FPS = 30000 / 1001 / 2  # the clip is 29.97 frames/s; annotated.mp4 has the analysed frames at their own rate


@pytest.fixture(scope="module")
def stage_out(data_dir: Path, tmp_path_factory) -> Path:
    """``emolens video stage_three.mp4 --annotate`` (three people on a stage), on the first 48 frames."""
    out = tmp_path_factory.mktemp("stage") / "out"
    clip = data_dir / "videos" / "stage_three.mp4"
    r = CliRunner().invoke(
        app,
        ["video", str(clip), "--output", str(out), "--every", "2", "--max-frames", "48", "--annotate", str(out), "-q"],
    )
    assert r.exit_code == 0, r.output
    return out


def test_annotated_video_is_h264_with_every_analysed_frame(stage_out: Path) -> None:
    av = pytest.importorskip("av")
    with av.open(str(stage_out / "annotated.mp4")) as c:
        stream = c.streams.video[0]
        assert stream.codec_context.name == "h264"
        assert stream.codec_context.pix_fmt == "yuv420p"  # what browsers decode
        assert (stream.width, stream.height) == (640, 480)
        frames = [f.to_ndarray(format="rgb24") for f in c.decode(stream)]
        assert float(stream.duration * stream.time_base) == pytest.approx(FRAMES / FPS, abs=0.09)
    assert len(frames) == FRAMES
    # the tags are in the picture: each frame has the colour of an emotion's tag over a good area
    from emolens.draw import EMOTION_COLORS

    tag_pixels = [
        max(int((np.abs(f.astype(int) - c).max(axis=-1) < 24).sum()) for c in EMOTION_COLORS.values()) for f in frames
    ]
    assert min(tag_pixels) > 300


def test_odd_frame_sizes_are_padded_for_h264(tmp_path: Path) -> None:
    av = pytest.importorskip("av")
    from emolens.types import FrameResult

    path = tmp_path / "odd.mp4"
    rng = np.random.default_rng(0)
    with AnnotatedVideoWriter(path, 10.0) as w:
        assert w.codec == "h264"
        for i in range(5):
            w.write(FrameResult(i, i / 10, (), 101, 75), rng.integers(0, 255, (75, 101, 3), dtype=np.uint8))
    assert w.encoder in ("libx264", "libopenh264", "h264")
    with av.open(str(path)) as c:
        assert (c.streams.video[0].width, c.streams.video[0].height) == (102, 76)
        assert sum(1 for _ in c.decode(video=0)) == 5


def test_headless_chromium_plays_the_annotated_video(stage_out: Path, tmp_path: Path) -> None:
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} not found (Debian: apt-get install chromium)")
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright not installed")
    # The same frames as MPEG-4 Part 2 (OpenCV mp4v, what annotated.mp4 was before): the browser must refuse it,
    # so a pass below means the codec plays, not that the page cannot tell.
    with AnnotatedVideoWriter(tmp_path / "mp4v.mp4", FPS, codec="mp4v") as w:
        cap = cv2.VideoCapture(str(stage_out / "annotated.mp4"))
        from emolens.types import FrameResult

        for i in range(FRAMES):
            ok, bgr = cap.read()
            assert ok
            w.write(FrameResult(i, i / FPS, (), 640, 480), cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
        cap.release()
    (tmp_path / "h264.mp4").write_bytes((stage_out / "annotated.mp4").read_bytes())
    (tmp_path / "play.html").write_text(
        "<!doctype html><body>"
        '<video id="h264" src="h264.mp4" muted preload="auto"></video>'
        '<video id="mp4v" src="mp4v.mp4" muted preload="auto"></video></body>'
    )
    state = """id => { const v = document.getElementById(id);
        return {ready: v.readyState, duration: v.duration, width: v.videoWidth, height: v.videoHeight,
                error: v.error && v.error.code, time: v.currentTime}; }"""
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=["--autoplay-policy=no-user-gesture-required"]
        )
        try:
            page = browser.new_page()
            page.goto((tmp_path / "play.html").as_uri())
            page.wait_for_function("() => document.getElementById('h264').readyState >= 2", timeout=30_000)
            page.wait_for_function("() => document.getElementById('mp4v').error !== null", timeout=30_000)
            h264 = page.evaluate(state, "h264")
            mp4v = page.evaluate(state, "mp4v")
            page.evaluate("document.getElementById('h264').play()")
            page.wait_for_function("() => document.getElementById('h264').currentTime > 0.5", timeout=30_000)
            page.screenshot(path=str(tmp_path / "played.png"))
        finally:
            browser.close()
    assert h264["ready"] >= 2 and h264["error"] is None
    assert h264["duration"] == pytest.approx(FRAMES / FPS, abs=0.09)
    assert (h264["width"], h264["height"]) == (640, 480)
    assert mp4v["error"] == 4  # MEDIA_ERR_SRC_NOT_SUPPORTED: the old format does not play


def test_timelines_show_each_tracks_best_face(stage_out: Path) -> None:
    summary = json.loads((stage_out / "tracks.json").read_text())
    assert len(summary["tracks"]) >= 3  # three people (a fourth, short track where one turns away)
    for t in summary["tracks"]:
        assert t["seconds_on_screen"] == pytest.approx(t["frames"] / FPS, abs=0.01)
        assert 0 <= t["thumbnail_frame"] < 48
        png = cv2.imread(str(stage_out / f"timeline_track_{t['track_id']}.png"))
        assert png is not None and png.shape[1] >= 1100  # the face panel widens the figure


def test_timeline_thumbnail_is_drawn(tmp_path: Path) -> None:
    magenta = np.zeros((112, 112, 3), np.uint8)
    magenta[..., 0] = magenta[..., 2] = 255
    probs = np.tile([0.1, 0.0, 0.0, 0.8, 0.0, 0.0, 0.1], (5, 1))
    labels = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")
    plot_timeline(np.arange(5.0), probs, labels, tmp_path / "with.png", thumbnail=magenta)
    plot_timeline(np.arange(5.0), probs, labels, tmp_path / "without.png")
    with_face = cv2.imread(str(tmp_path / "with.png"))[..., ::-1].astype(int)
    without = cv2.imread(str(tmp_path / "without.png"))[..., ::-1].astype(int)
    is_magenta = (np.abs(with_face - (255, 0, 255)).max(axis=-1) < 10).sum()
    assert is_magenta > 100 * 100 * 0.8
    assert (np.abs(without - (255, 0, 255)).max(axis=-1) < 10).sum() == 0


def test_summary_sheet_html_is_self_contained_with_a_face_per_track(stage_out: Path) -> None:
    page = (stage_out / "summary.html").read_text()
    assert "<script" not in page and not re.search(r"(?:src|href)=\"(?:https?:)?//", page)  # nothing to fetch
    assert "stage_three.mp4" in page
    rows = re.findall(r'<tr data-track="(\d+)">(.*?)</tr>', page, re.S)
    summary = {t["track_id"]: t for t in json.loads((stage_out / "tracks.json").read_text())["tracks"]}
    assert sorted(int(t) for t, _ in rows) == sorted(summary)
    assert [int(t) for t, _ in rows] == sorted(summary, key=lambda k: (-summary[k]["frames"], k))  # longest first
    analyzer = Analyzer("retinaface", threads=1)
    for tid, row in rows:
        t = summary[int(tid)]
        assert f">{t['dominant_emotion']}</span>" in row
        assert f"{t['seconds_on_screen']:.1f} s" in row
        assert row.count("<polygon") == 7  # the timeline, one band per label
        b64 = re.search(r'src="data:image/png;base64,([^"]+)"', row).group(1)
        thumb = cv2.imdecode(np.frombuffer(base64.b64decode(b64), np.uint8), cv2.IMREAD_COLOR)
        assert thumb.shape == (112, 112, 3)
        faces = analyzer.analyze(thumb, color_order="bgr").faces
        assert len(faces) == 1 and faces[0].box.size > 60  # the picture is one face, filling most of it


def test_summary_png(stage_out: Path) -> None:
    png = cv2.imread(str(stage_out / "summary.png"))
    assert png is not None
    h, w = png.shape[:2]
    n = len(json.loads((stage_out / "tracks.json").read_text())["tracks"])
    assert w > 900 and h > n * 100  # a row per track
