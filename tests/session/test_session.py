"""The session runner on a real clip: steps, alerts, sinks, stop, and fusion of the faces in memory."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from emolens import Analyzer
from emolens.errors import ConfigError
from emolens.fusion import face_segments
from emolens.fusion.run import run_multimodal, write_rows
from emolens.labels import FER2013
from emolens.session import (
    AlertsJsonSink,
    CallbackSink,
    FrameTableSink,
    FusionSink,
    Session,
    SessionConfig,
    SessionStep,
    Sink,
    VideoOutputSink,
)


@pytest.fixture(scope="module")
def clip(data_dir: Path) -> Path:
    path = data_dir / "videos" / "single_face.mp4"
    if not path.is_file():
        pytest.fail(f"test clip not found: {path}", pytrace=False)
    return path


@pytest.fixture(scope="module")
def analyzer() -> Analyzer:
    return Analyzer("blazeface", threads=1)


def test_steps_alerts_and_sinks(analyzer, clip, tmp_path):
    steps: list[SessionStep] = []
    opened, closed = [], []
    every = ",".join(FER2013)  # whatever she shows, the rule holds: one alert after 0.4 s of her track
    cfg = SessionConfig(every_n_frames=2, max_frames=40, alerts=[f"{every}:0.4:any:0"])
    sinks = [
        CallbackSink(steps.append, on_open=opened.append, on_close=closed.append, needs_frames=True),
        AlertsJsonSink(tmp_path / "alerts.json"),
    ]
    assert all(isinstance(s, Sink) for s in sinks)
    with Session(analyzer, clip, cfg, sinks) as session:
        info = session.open()
        assert info.name == str(clip) and info.labels == tuple(FER2013) and info.source.fps == 25
        for _ in session:
            pass
    summary = session.close()
    assert len(opened) == 1 and closed == [summary]
    assert summary.complete and summary.error is None and summary.stats.frames_read == 40
    assert len(steps) == summary.stats.frames_analysed == 20  # every 2nd of 40 frames
    assert [s.result.index for s in steps] == list(range(0, 40, 2))
    assert all(s.rgb is not None and s.rgb.shape == (360, 640, 3) for s in steps)
    assert sum(len(s.result.faces) for s in steps) >= 18  # her face is in every frame
    fired = [(s.result.timestamp, a) for s in steps for a in s.alerts]
    assert len(fired) == 1 and summary.alerts == [fired[0][1]]
    t, alert = fired[0]
    assert session.engine is not None and alert.rule == session.engine.rules[0].name and alert.duration_s >= 0.4
    assert t == pytest.approx(alert.started + alert.duration_s)
    assert json.loads((tmp_path / "alerts.json").read_text()) == [alert.to_dict()]
    assert summary.files == [tmp_path / "alerts.json"]


def test_stop_ends_the_iteration_after_the_current_frame(analyzer, clip):
    seen = []

    def on_step(step: SessionStep) -> None:
        seen.append(step.result.index)
        if len(seen) == 5:
            session.stop()  # as a WebSocket handler would, on a client leaving

    session = Session(analyzer, clip, SessionConfig(), [CallbackSink(on_step)])
    summary = session.run()
    assert seen == [0, 1, 2, 3, 4] and summary.complete and summary.stats.frames_analysed == 5
    assert session.close() is summary  # idempotent


def test_frames_kept_only_when_asked_and_records_sink(analyzer, clip, tmp_path):
    table = FrameTableSink(tmp_path / "t" / "frames.parquet")
    with Session(analyzer, clip, SessionConfig(max_frames=3), [table]) as session:
        steps = list(session)
    assert len(steps) == 3 and all(s.frame is None and s.rgb is None for s in steps)
    import pyarrow.parquet as pq

    rows = pq.read_table(table.path).to_pylist()
    assert rows and [r["frame"] for r in rows] == [s.result.index for s in steps for _ in s.result.faces]
    assert session.close().files == [table.path]


def test_fusion_sink_fuses_the_faces_in_memory_as_the_written_table_would(analyzer, clip, tmp_path):
    out = tmp_path / "v"
    outputs = VideoOutputSink(out, tables=["csv"], plots=False, facts={"detector": "blazeface"})
    fusion = FusionSink(out)
    summary = Session(analyzer, clip, SessionConfig(max_frames=60), [outputs, fusion]).run()
    assert summary.complete and out / "fused.csv" in summary.files and out / "frames.csv" in summary.files
    with (out / "frames.csv").open(newline="") as f:
        from_disk = face_segments(csv.DictReader(f))
    assert len(from_disk) == 60 and fusion.faces.segments() == from_disk  # same segments, value for value
    write_rows(run_multimodal(frames_csv=out / "frames.csv").rows, tmp_path / "disk.csv")
    assert (out / "fused.csv").read_text() == (tmp_path / "disk.csv").read_text()
    rows = list(csv.DictReader((out / "fused.csv").open()))
    assert len(rows) == 3 and all(r["modalities"] == "face" and r["label"] in FER2013 for r in rows)  # 60 frames, 2.4 s
    tracks = json.loads((out / "tracks.json").read_text())
    assert tracks["complete"] is True and tracks["frames_read"] == 60 and tracks["detector"] == "blazeface"


def test_bad_configurations_fail_before_the_source_opens(analyzer, clip):
    with pytest.raises(ConfigError, match="drowsy"):
        Session(analyzer, clip, SessionConfig(alerts=["drowsy:2"])).open()
    with pytest.raises(ConfigError, match="gallery"):
        Session(analyzer, clip, SessionConfig(log_events=True)).open()
    with pytest.raises(ConfigError):
        Session(analyzer, clip, SessionConfig(alerts=["angry:x"])).open()


def test_push_source_as_a_websocket_feeds_it(analyzer, clip):
    import threading

    import cv2

    from emolens.video.sources import PushSource

    cap = cv2.VideoCapture(str(clip))
    frames = [cap.read()[1][..., ::-1].copy() for _ in range(12)]
    cap.release()
    source = PushSource("websocket")
    sent = []
    session = Session(analyzer, source, SessionConfig(live=True), [CallbackSink(lambda s: sent.append(s.result))])
    session.open()

    def feed() -> None:
        for i, rgb in enumerate(frames):
            source.push(rgb, timestamp_s=i / 25)
        source.end()

    feeder = threading.Thread(target=feed)
    feeder.start()
    summary = session.run()
    feeder.join(10)
    s = summary.stats
    # live: frames the analysis cannot keep up with are dropped (and end() may drop the oldest waiting one)
    assert 8 <= s.frames_read <= 12 and s.frames_analysed + s.frames_dropped == s.frames_sampled == s.frames_read
    assert len(sent) == s.frames_analysed >= 1
    assert all(len(r.faces) == 1 for r in sent) and [r.index for r in sent] == sorted(r.index for r in sent)


def test_fusion_sink_with_a_voice(analyzer, clip, data_dir, tmp_path):
    speech = data_dir / "audio" / "ravdess" / "Actor_16" / "03-01-05-02-01-01-16.ogg"  # an angry line, ~3.5 s
    if not speech.is_file():
        pytest.fail(f"RAVDESS clip not found: {speech}", pytrace=False)
    fusion = FusionSink(tmp_path, audio=speech)
    summary = Session(analyzer, clip, SessionConfig(max_frames=100), [fusion]).run()  # 4 s of her face
    assert summary.files == [tmp_path / "voice.csv", tmp_path / "fused.csv"] and fusion.notes == []
    voice = list(csv.DictReader((tmp_path / "voice.csv").open()))
    assert voice and max(FER2013, key=lambda lab: float(voice[0][f"p_{lab}"])) == "angry"
    rows = list(csv.DictReader((tmp_path / "fused.csv").open()))
    assert len(rows) == 4 and {"face+voice"} <= {r["modalities"] for r in rows}
    assert all(r["modalities"].startswith("face") for r in rows)


def test_close_from_another_thread_while_it_waits_for_frames(analyzer):
    import threading
    import time

    from emolens.video.sources import PushSource

    session = Session(analyzer, PushSource("websocket"), SessionConfig(live=True))
    session.open()
    errors: list[BaseException] = []

    def consume() -> None:
        try:
            for _ in session:  # nobody pushes: it waits inside the pipeline
                pass
        except BaseException as e:
            errors.append(e)

    worker = threading.Thread(target=consume)
    worker.start()
    time.sleep(0.3)
    t0 = time.perf_counter()
    summary = session.close()  # as a WebSocket handler does when its client leaves
    worker.join(5)
    assert not worker.is_alive() and errors == [] and time.perf_counter() - t0 < 5
    assert summary.complete and summary.stats.frames_read == 0 and session.close() is summary
