"""Detection around the tracked faces: on real frames it finds the faces the whole-frame search finds, searches
far fewer pixels, and goes back to the whole frame on schedule, when a face is lost and in a crowd."""

from __future__ import annotations

import numpy as np
import pytest

from emolens.detect.regions import Region, RegionDetector, _to_frame, region_around
from emolens.registry import build_detector
from emolens.types import Box, Detection, Landmarks
from emolens.video.sources import open_source


class Counting:
    """A detector that counts the pixels it is given."""

    def __init__(self, inner) -> None:
        self.inner, self.name, self.stride, self.pixels = inner, inner.name, inner.stride, []

    def detect(self, image: np.ndarray) -> list[Detection]:
        self.pixels.append(image.shape[0] * image.shape[1])
        return self.inner.detect(image)


@pytest.fixture(scope="module")
def frames(data_dir):
    src = open_source(data_dir / "videos" / "stage_three.mp4")
    out = [f.rgb for i, f in zip(range(12), src, strict=False)]
    src.close()
    return out


def test_regions_find_the_faces_of_the_whole_frame_for_less(frames) -> None:
    yunet = Counting(build_detector("yunet", threads=1))
    rd = RegionDetector(yunet, full_every=5)
    first = rd.detect(frames[0])  # nothing tracked yet: the whole frame
    assert len(first) == 3 and rd.full_frames == 1 and yunet.pixels == [640 * 480]
    whole = yunet.inner.detect(frames[1])
    yunet.pixels.clear()
    found = rd.detect(frames[1], near=[d.box for d in first])
    assert rd.region_frames == 1 and len(yunet.pixels) == 3 and sum(yunet.pixels) < 0.25 * 640 * 480
    assert len(found) == 3
    for d in whole:  # the same three faces, boxes and points within a few pixels
        e = max(found, key=lambda f: f.box.iou(d.box))
        assert e.box.iou(d.box) > 0.8
        assert np.abs(e.landmarks.as_array() - d.landmarks.as_array()).max() < 0.15 * d.box.size
    assert found == sorted(found, key=lambda d: d.score, reverse=True)


def test_the_whole_frame_comes_back_on_schedule_and_when_a_face_is_lost(frames) -> None:
    rd = RegionDetector(build_detector("yunet", threads=1), full_every=3)
    near = [d.box for d in rd.detect(frames[0])]
    rd.detect(frames[1], near=near)
    rd.detect(frames[2], near=near)
    assert (rd.full_frames, rd.region_frames) == (1, 2)
    rd.detect(frames[3], near=near)  # the third frame since the last whole search
    assert (rd.full_frames, rd.region_frames) == (2, 2)
    # a square where no face is (the top-left corner): the whole frame is searched at once, and finds the three
    found = rd.detect(frames[4], near=[*near, Box(5, 5, 45, 45)])
    assert (rd.full_frames, rd.region_frames) == (3, 2) and len(found) == 3
    crowd = [Box(x, 300, x + 40, 340) for x in range(0, 600, 100)]  # more faces than max_regions
    rd.detect(frames[5], near=crowd)
    assert rd.full_frames == 4
    rd.reset()
    rd.detect(frames[6], near=near)
    assert rd.full_frames == 5


def test_a_face_in_a_shrunk_square_maps_back_to_frame_pixels() -> None:
    r = region_around(Box(100, 50, 400, 350), 640, 480, context=1.6, face_px=150)
    assert (r.x1, r.y1, r.x2, r.y2) == (10, 0, 490, 440) and r.scale == pytest.approx(2.0)
    d = Detection(
        Box(45, 25, 195, 175), 0.9, Landmarks(((80.0, 80.0), (160.0, 80.0), (120.0, 110.0), (90, 140), (150, 140)))
    )
    f = _to_frame(d, r)
    assert f.box == Box(100, 50, 400, 350) and f.score == 0.9
    assert f.landmarks.points[0] == (170.0, 160.0) and f.landmarks.points[4] == (310.0, 280.0)
    small = region_around(Box(100, 100, 140, 140), 640, 480, context=2.0, face_px=192)
    assert small == Region(80, 80, 160, 160, 1.0)  # a small face is searched at its own size


def test_a_detector_of_fixed_input_size_searches_whole_frames(frames) -> None:
    rd = RegionDetector(build_detector("blazeface", threads=1), full_every=5)
    near = [d.box for d in rd.detect(frames[0])]
    rd.detect(frames[1], near=near)
    assert not rd.resizable and (rd.full_frames, rd.region_frames) == (2, 0)


def test_full_detect_every_one_is_the_whole_frame_every_time(data_dir) -> None:
    from emolens import Analyzer
    from emolens.errors import ConfigError

    analyzer = Analyzer()
    clip = data_dir / "videos" / "stage_three.mp4"
    runs = {}
    for every in (1, 5):
        with analyzer.analyze_video(clip, max_frames=30, full_detect_every=every) as run:
            runs[every] = [len(f) for f in run]
            stats = run.stats
        assert stats.tracks == 3
        assert stats.frames_searched_whole == (30 if every == 1 else 6)
    assert runs[1] == runs[5] == [3] * 30
    with pytest.raises(ConfigError, match="full_detect_every"):
        analyzer.analyze_video(clip, full_detect_every=0)


def test_frames_far_apart_in_video_time_are_searched_whole(frames) -> None:
    rd = RegionDetector(build_detector("yunet", threads=1), full_every=5)
    near = [d.box for d in rd.detect(frames[0], t=0.0)]
    rd.detect(frames[1], near=near, t=0.04)
    assert (rd.full_frames, rd.region_frames) == (1, 1)
    rd.detect(frames[2], near=near, t=0.5)  # 0.46 s later: faces may have moved far or come in
    assert (rd.full_frames, rd.region_frames) == (2, 1)


def test_a_face_is_never_searched_finer_than_in_the_whole_frame() -> None:
    # a 1920-px frame that the whole-frame search shrinks by 2.2 (to 864 px): a 150-px face is shrunk as much
    r = region_around(Box(900, 500, 1050, 650), 1920, 1080, context=1.6, face_px=192, min_scale=1920 / 864)
    assert r.scale == pytest.approx(1920 / 864)


def test_the_tracker_says_when_a_confirmed_face_is_lost() -> None:
    from emolens.video.tracker import Tracker

    tracker = Tracker({"min_hits": 1})
    a, b = Detection(Box(10, 10, 60, 60), 0.9), Detection(Box(200, 10, 250, 60), 0.9)
    tracker.update([a, b])
    assert not tracker.has_lost and len(tracker.live_boxes) == 2
    tracker.update([a])  # b missed: the pipeline then searches the whole frame, not only around a
    assert tracker.has_lost and tracker.live_boxes == [a.box]
    tracker.update([a, b])
    assert not tracker.has_lost
