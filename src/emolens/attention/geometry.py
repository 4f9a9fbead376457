"""Head pose, eye openness, gaze and mouth opening from the 468-point face mesh: small pure functions.

Conventions (those of AFLW2000-3D, the head-pose benchmark, checked on its photos): yaw is positive when the face
turns towards the image left (the person's right), pitch positive when it looks up, roll positive when the top of
the head tilts towards the image right. "left"/"right" eyes are as seen in the image, as in
:data:`emolens.types.LANDMARK_NAMES`.
"""

from __future__ import annotations

import math

import numpy as np

from emolens.attention import template

#: Six-point eye outlines (corner, top, top, corner, bottom, bottom) of the eye on the image left / right.
EYE_POINTS: tuple[tuple[int, ...], tuple[int, ...]] = ((33, 160, 158, 133, 153, 144), (362, 385, 387, 263, 373, 380))
#: Inner lips (upper, lower).
INNER_LIPS = (13, 14)
#: Forehead top and chin, for the face height.
FOREHEAD, CHIN = 10, 152
#: Eye width over eyeball radius (about 30 mm / 12 mm): turns an iris offset (in eye widths) into an angle.
EYE_WIDTH_OVER_RADIUS = 2.5
#: Most the two eyes' gaze angles may differ (degrees) for the gaze to be given: eyes move together.
GAZE_AGREEMENT = 12.0


def head_pose(points: np.ndarray) -> tuple[float, float, float]:
    """Yaw, pitch and roll in degrees from mesh points ``[468, 3]`` (image pixels, z relative depth).

    A weighted similarity (Umeyama) fit of MediaPipe's canonical 3D face (:mod:`emolens.attention.template`)
    onto the mesh's own 3D points, as MediaPipe's geometry pipeline does under weak perspective. Euler angles
    follow AFLW2000-3D (``R = Rx · Ry · Rz``): yaw > 0 turns the face to the image left, pitch > 0 looks up,
    roll > 0 tilts the top of the head towards the image right.
    """
    obs = np.asarray(points, dtype=np.float64)[template.INDICES]
    obs = obs * np.array([1.0, -1.0, -1.0])  # image (x right, y down, z away) → template axes (y up, z out)
    r = _weighted_rotation(template.POINTS, obs, template.WEIGHTS)
    return _euler(r)


def _weighted_rotation(src: np.ndarray, dst: np.ndarray, w: np.ndarray) -> np.ndarray:
    """The rotation of the weighted least-squares similarity transform that maps ``src`` onto ``dst``."""
    w = w / w.sum()
    ms, md = w @ src, w @ dst
    cov = ((dst - md) * w[:, None]).T @ (src - ms)
    u, _, vt = np.linalg.svd(cov)
    d = np.sign(np.linalg.det(u @ vt)) or 1.0
    return u @ np.diag([1.0, 1.0, d]) @ vt


def _euler(r: np.ndarray) -> tuple[float, float, float]:
    """Yaw, pitch, roll (degrees) of a rotation in the template's axes, AFLW2000-3D signs.

    ``R = Rx(a) · Ry(b) · Rz(c)`` in the right-handed template frame (x image right, y up, z towards the camera);
    AFLW2000-3D's angles are the negatives: yaw ``-b`` (towards the image left), pitch ``-a`` (up), roll ``-c``.
    """
    b = math.asin(max(-1.0, min(1.0, r[0, 2])))
    a = math.atan2(-r[1, 2], r[2, 2])
    c = math.atan2(-r[0, 1], r[0, 0])
    return -math.degrees(b), -math.degrees(a), -math.degrees(c)


def eye_aspect_ratio(points: np.ndarray, eye: int) -> float:
    """Eye aspect ratio (Soukupová and Čech, 2016) of eye 0 (image left) or 1 (image right).

    ``(|p2 - p6| + |p3 - p5|) / (2 |p1 - p4|)`` on the mesh's eye outline: about 0.25-0.35 open, under 0.1 shut.
    """
    p = np.asarray(points, dtype=np.float64)[list(EYE_POINTS[eye]), :2]
    width = np.linalg.norm(p[0] - p[3])
    if width <= 1e-6:
        return float("nan")
    return float((np.linalg.norm(p[1] - p[5]) + np.linalg.norm(p[2] - p[4])) / (2.0 * width))


#: The iris model's eye contour: points 0 and 8 are the corners, 1-7 the lower lid and 9-15 the upper lid (the same
#: ring as the mesh's eye outline); the three middle pairs across the eye.
CONTOUR_PAIRS: tuple[tuple[int, int], ...] = ((3, 13), (4, 12), (5, 11))


def contour_eye_ratio(contour: np.ndarray) -> float:
    """Eye aspect ratio on the iris model's finer eye contour ``[71, 3]``: the mean gap between the lids at three
    places over the corner-to-corner width; about 0.48 open and under 0.4 shut. It separates open from closed
    eyes better than the mesh's outline (accuracy 0.99 against 0.91 on ``attention/eyes`` valid)."""
    c = np.asarray(contour, dtype=np.float64)[:, :2]
    width = np.linalg.norm(c[0] - c[8])
    if width <= 1e-6:
        return float("nan")
    return float(np.mean([np.linalg.norm(c[a] - c[b]) for a, b in CONTOUR_PAIRS]) / width)


def gaze_angles(points: np.ndarray, iris: np.ndarray) -> tuple[float, float]:
    """Eye-in-head gaze (yaw, pitch) in degrees from the iris centres, averaged over both eyes.

    The iris centre's offset from the middle of the eye corners, in eye widths along and across the corner line,
    is turned into an angle with an eyeball of radius ``eye width / 2.5``. Signs as in :func:`head_pose`. Add
    the head pose for the gaze direction in the camera's frame (a small-angle approximation). NaN when the two
    eyes disagree by more than :data:`GAZE_AGREEMENT` degrees (the eyes move together, so one of them is wrong).
    """
    p = np.asarray(points, dtype=np.float64)
    yaws, pitches = [], []
    for eye, (a_i, b_i) in enumerate(((33, 133), (362, 263))):
        a, b = p[a_i, :2], p[b_i, :2]
        width = np.linalg.norm(b - a)
        if width <= 1e-6:
            continue
        u = (b - a) / width
        v = np.array([-u[1], u[0]])  # image "down" for an upright face
        d = np.asarray(iris[eye][0, :2], dtype=np.float64) - (a + b) / 2
        h, vert = float(d @ u) / width, float(d @ v) / width
        yaws.append(-math.degrees(math.asin(max(-1.0, min(1.0, h * EYE_WIDTH_OVER_RADIUS)))))
        pitches.append(-math.degrees(math.asin(max(-1.0, min(1.0, vert * EYE_WIDTH_OVER_RADIUS)))))
    if len(yaws) < 2 or abs(yaws[0] - yaws[1]) > GAZE_AGREEMENT or abs(pitches[0] - pitches[1]) > GAZE_AGREEMENT:
        return float("nan"), float("nan")  # one eye hidden, in shadow or mislocated: no gaze rather than a wrong one
    return float(np.mean(yaws)), float(np.mean(pitches))


def mouth_opening(points: np.ndarray) -> float:
    """Inner-lip gap over the face height (forehead top to chin): about 0 closed, over 0.15 in a yawn."""
    p = np.asarray(points, dtype=np.float64)[:, :2]
    height = np.linalg.norm(p[FOREHEAD] - p[CHIN])
    if height <= 1e-6:
        return float("nan")
    return float(np.linalg.norm(p[INNER_LIPS[0]] - p[INNER_LIPS[1]]) / height)


#: Outer eye corners: the face size that does not change when the jaw drops (the face height does).
OUTER_EYE_CORNERS = (33, 263)
#: Inner-lip pairs (upper, lower) across the middle of the mouth, and the inner mouth corners.
INNER_LIP_PAIRS: tuple[tuple[int, int], ...] = ((82, 87), (13, 14), (312, 317))
INNER_CORNERS = (78, 308)
#: Outer mouth corners.
MOUTH_CORNERS = (61, 291)
#: Template points that do not move with the jaw (all but the two jaw points): the frame of :func:`frontal`.
_RIGID = template.POINTS[:, 1] > -3.0


def frontal(points: np.ndarray) -> np.ndarray:
    """The mesh ``[468, 3]`` turned to face the camera, in units of the distance between the outer eye corners.

    The head's rotation is the weighted fit of :func:`head_pose` on the template points above the jaw (so that a
    dropped jaw does not tilt the fit); the points are moved to that fit's centre and rotated back, in the
    template's axes (x image right, y up, z towards the camera). Sizes measured on the result do not shrink when
    the head turns or nods, as image distances do."""
    p = np.asarray(points, dtype=np.float64) * np.array([1.0, -1.0, -1.0])
    obs = p[template.INDICES][_RIGID]
    w = template.WEIGHTS[_RIGID]
    r = _weighted_rotation(template.POINTS[_RIGID], obs, w)
    q = (p - (w / w.sum()) @ obs) @ r
    eyes = np.linalg.norm(q[OUTER_EYE_CORNERS[0]] - q[OUTER_EYE_CORNERS[1]])
    return q / eyes if eyes > 1e-6 else np.full_like(q, np.nan)


def yawn_features(points: np.ndarray) -> np.ndarray:
    """What tells a yawn from talking, eating, a laugh or a grimace, on the head-pose-normalised mesh
    (:func:`frontal`, sizes over the outer-eye-corner distance):

    0. the inner-lip gap, the mean of three upper-to-lower pairs across the middle of the mouth (a yawn opens
    widest), 1. that gap over the inner mouth width (a yawn is tall and round; a laugh, speech or a bite wide or
    half open), 2. how far the outer mouth corners sit below the middle of the upper lip (a yawning mouth is an
    oval whose corners hang low; a laugh or a grimace that bares the teeth pulls them up, level with the upper
    lip). Eye and brow features were tried and dropped: they did not carry over from posed faces to the ``none``
    photos in grouped cross-validation (``research/fit_yawn.py``)."""
    q = frontal(points)[:, :2]
    gap = float(np.mean([np.linalg.norm(q[a] - q[b]) for a, b in INNER_LIP_PAIRS]))
    width = float(np.linalg.norm(q[INNER_CORNERS[0]] - q[INNER_CORNERS[1]]))
    if not (math.isfinite(gap) and width > 1e-6):
        return np.full(3, np.nan)
    drop = float(q[INNER_LIPS[0], 1] - (q[MOUTH_CORNERS[0], 1] + q[MOUTH_CORNERS[1], 1]) / 2)  # y points up here
    return np.array([gap, gap / width, drop])


def direction(yaw: float, pitch: float) -> np.ndarray:
    """The unit vector of a (yaw, pitch) direction in degrees (x image left, y up, z towards the camera)."""
    y, p = math.radians(yaw), math.radians(pitch)
    return np.array([math.sin(y) * math.cos(p), math.sin(p), math.cos(y) * math.cos(p)])


def angle_between(yaw_a: float, pitch_a: float, yaw_b: float, pitch_b: float) -> float:
    """The angle in degrees between two (yaw, pitch) directions."""
    c = float(direction(yaw_a, pitch_a) @ direction(yaw_b, pitch_b))
    return math.degrees(math.acos(max(-1.0, min(1.0, c))))
