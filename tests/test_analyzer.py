"""The Analyzer end to end on real photos with the shipped models."""

import json

import numpy as np
import pytest
from PIL import Image

import emolens
from emolens.errors import ConfigError, ImageError
from emolens.labels import FER2013


@pytest.fixture(scope="module")
def analyzer():
    return emolens.Analyzer()


def test_couple_has_two_faces_with_probabilities(analyzer, data_dir):
    result = analyzer.analyze(str(data_dir / "photos" / "couple.jpg"))
    assert len(result) == 2
    for face in result:
        assert face.emotions.labels == FER2013
        assert sum(face.emotions.probs) == pytest.approx(1.0, abs=1e-4)
        assert face.landmarks is not None and len(face.landmarks.points) == 5
        assert 0 <= face.box.x1 < face.box.x2 <= result.width
    d = result.to_dict()
    json.dumps(d)
    assert d["faces"][0]["label"] in FER2013


def test_landscape_has_no_faces(analyzer, data_dir):
    assert len(analyzer.analyze(str(data_dir / "photos" / "landscape.jpg"))) == 0


def test_all_input_kinds_agree(analyzer, data_dir):
    path = data_dir / "photos" / "couple.jpg"
    by_path = analyzer.analyze(str(path))
    by_bytes = analyzer.analyze(path.read_bytes())
    rgb = np.asarray(Image.open(path).convert("RGB"))
    by_rgb = analyzer.analyze(rgb, color_order="rgb")
    by_bgr = analyzer.analyze(np.ascontiguousarray(rgb[..., ::-1]), color_order="bgr")
    by_pil = analyzer.analyze(Image.open(path))
    ref = [f.box.to_list() for f in by_path]
    for r in (by_bytes, by_rgb, by_bgr, by_pil):
        assert [f.box.to_list() for f in r] == ref
        assert [f.label for f in r] == [f.label for f in by_path]


def test_batch_matches_single_and_reports_bad_input(analyzer, data_dir, tmp_path):
    bad = tmp_path / "bad.jpg"
    bad.write_text("not an image")
    paths = [str(data_dir / "photos" / "couple.jpg"), str(bad), str(data_dir / "photos" / "landscape.jpg")]
    results = analyzer.analyze_batch(paths)
    assert [len(r) for r in results] == [2, 0, 0]
    assert results[0].ok and not results[1].ok and results[2].ok
    assert "bad.jpg" in results[1].source
    single = analyzer.analyze(paths[0])
    for a, b in zip(results[0], single, strict=True):
        assert np.allclose(a.emotions.probs, b.emotions.probs, atol=1e-5)


def test_single_bad_input_raises_image_error(analyzer, tmp_path):
    with pytest.raises(ImageError):
        analyzer.analyze(str(tmp_path / "missing.jpg"))


def test_min_and_max_faces(data_dir):
    path = str(data_dir / "photos" / "expression_grid.jpg")
    assert len(emolens.Analyzer(max_faces=3).analyze(path)) == 3
    sizes = [f.box.size for f in emolens.Analyzer().analyze(path)]
    big = emolens.Analyzer(min_face=np.median(sizes)).analyze(path)
    assert 0 < len(big) < len(sizes)


def test_unknown_detector_is_a_config_error():
    with pytest.raises(ConfigError, match="unknown detector"):
        emolens.Analyzer(detector="nope")


def test_module_level_analyze(data_dir):
    faces = emolens.analyze(str(data_dir / "photos" / "couple.jpg"))
    assert len(faces) == 2 and faces[0].label in FER2013
