"""Inputs through the real CLI and the one image loader: a FIFO is skipped, not waited on; Pillow's bomb warning is
replaced by our line; fuzzed image bytes give a picture or an ImageError, nothing else."""

from __future__ import annotations

import io
import os
import shutil

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from emolens.errors import ImageError
from emolens.io.images import load_image

from .conftest import cli, flat


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no named pipes here")
def test_a_fifo_named_like_an_image_is_skipped_not_waited_on(tmp_path, data_dir):
    folder = tmp_path / "in"
    folder.mkdir()
    shutil.copy(data_dir / "photos" / "couple.jpg", folder / "a.jpg")
    os.mkfifo(folder / "pipe.jpg")
    r = cli("analyze", str(folder), "--format", "json", timeout=240)
    assert r.returncode == 1, (r.returncode, r.stderr)  # partial: one input skipped
    assert "pipe.jpg" in r.stderr and "not a regular file (a named pipe)" in flat(r.stderr), r.stderr
    assert '"a.jpg"' in r.stdout or "a.jpg" in r.stdout
    r = cli("analyze", str(folder / "pipe.jpg"), timeout=120)  # named on its own too
    assert r.returncode != 0 and "named pipe" in flat(r.stderr)
    with pytest.raises(ImageError, match="named pipe"):
        load_image(folder / "pipe.jpg")


def test_a_decompression_bomb_is_one_line_of_ours(tmp_path):
    big = tmp_path / "big.png"
    Image.new("L", (10_000, 10_000)).save(big, optimize=True)  # 100 MP: over Pillow's warning level, under its error
    r = cli("analyze", str(big), timeout=120)
    assert "DecompressionBombWarning" not in r.stderr and "warn" not in r.stderr.lower(), r.stderr
    assert "10000x10000 = 100,000,000 pixels, over the limit" in flat(r.stderr), r.stderr


def _jpeg() -> bytes:
    rng = np.random.default_rng(0)
    buf = io.BytesIO()
    Image.fromarray(rng.integers(0, 255, (48, 64, 3), np.uint8)).save(buf, "JPEG")
    return buf.getvalue()


def _png(mode: str) -> bytes:
    buf = io.BytesIO()
    Image.new(mode, (40, 30)).save(buf, "PNG")
    return buf.getvalue()


SEEDS = [_jpeg(), _png("RGBA"), _png("L"), _png("P")]


@settings(max_examples=300, deadline=None)
@given(
    seed=st.sampled_from(SEEDS),
    edits=st.lists(st.tuples(st.integers(0, 4096), st.integers(0, 255)), max_size=12),
    cut=st.none() | st.integers(0, 4096),
    size=st.none() | st.tuples(st.integers(0, 2**31 - 1), st.integers(0, 2**31 - 1)),
)
def test_the_loader_gives_an_image_or_an_image_error(seed, edits, cut, size):
    data = bytearray(seed)
    if size is not None and data[:4] == b"\x89PNG":  # a header claiming any width and height
        data[16:24] = size[0].to_bytes(4, "big") + size[1].to_bytes(4, "big")
    for pos, value in edits:
        data[pos % len(data)] = value
    data = bytes(data[:cut] if cut is not None else data)
    try:
        img = load_image(data, max_pixels=4_000_000)
    except ImageError as e:
        assert "\n" not in str(e) and len(str(e)) < 300
        return
    assert img.rgb.dtype == np.uint8 and img.rgb.ndim == 3 and img.rgb.shape[2] == 3
    assert img.width * img.height <= 4_000_000
