import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from emolens.align import FER2013_TEMPLATE, align, similarity_transform
from emolens.types import Box, Landmarks

TEMPLATE = np.array(FER2013_TEMPLATE)


@settings(max_examples=50)
@given(angle=st.floats(-np.pi, np.pi), scale=st.floats(0.1, 20), tx=st.floats(-500, 500), ty=st.floats(-500, 500))
def test_similarity_transform_inverts_a_known_transform(angle, scale, tx, ty):
    src = TEMPLATE * 100
    r = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]]) * scale
    dst = src @ r.T + [tx, ty]
    m = similarity_transform(src, dst)
    back = src @ m[:, :2].T + m[:, 2]
    assert np.allclose(back, dst, atol=1e-6 * max(1, scale * 100))


def test_align_puts_landmarks_on_template():
    # Draw five bright dots at rotated, scaled positions; after alignment they sit on the template.
    img = np.zeros((400, 400, 3), np.uint8)
    angle, scale = 0.3, 3.0
    r = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]]) * scale
    pts = (TEMPLATE * 48) @ r.T + [150, 100]
    for x, y in pts:
        img[round(y) - 2 : round(y) + 3, round(x) - 2 : round(x) + 3] = 255
    lm = Landmarks(tuple((float(x), float(y)) for x, y in pts))
    crop = align(img, lm, Box(0, 0, 1, 1), FER2013_TEMPLATE, 48)
    assert crop.shape == (48, 48)
    for tx, ty in TEMPLATE * 48:
        x, y = round(tx), round(ty)
        assert crop[y - 1 : y + 2, x - 1 : x + 2].max() > 100


def test_align_without_landmarks_uses_the_box():
    img = np.zeros((200, 200, 3), np.uint8)
    img[50:150, 50:150] = 200
    crop = align(img, None, Box(50, 50, 150, 150), FER2013_TEMPLATE, 48)
    assert crop[24, 24] == 200 and crop[0, 0] == 0
