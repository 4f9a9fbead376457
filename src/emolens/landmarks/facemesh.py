"""MediaPipe Face Mesh (468 points) and Iris (5 points per iris) on detector boxes.

The crop is made the way MediaPipe's own graphs make it:

- **Face** (``face_landmark_front_cpu``): a square around the detection box, ``1.5`` times its longer side
  (MediaPipe's ``RectTransformationCalculator`` with ``scale 1.5, square_long``), rotated so that the line
  between the two eyes is horizontal, resized to 192x192. With ``refine`` (default 1) the mesh is run again on
  the crop MediaPipe makes from the previous landmarks (their bounding box, scale 1.5, rotation from points
  33 → 263), which frames every detector's box the same way.
- **Iris** (``iris_landmark_landmarks_to_roi``): a square 2.3 times the distance between the eye corners
  (33/133 and 362/263), rotated along them, resized to 64x64; the model knows one eye, so the eye on the image
  right is mirrored before and after.

Points are mapped back to image pixels; ``z`` is scaled with ``x``.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Any, TypeVar

import cv2
import numpy as np

from emolens.models import LandmarksManifest, find_model, onnx_session

T = TypeVar("T")
U = TypeVar("U")

MESH_POINTS = 468
MESH_SIZE = 192
IRIS_SIZE = 64
#: MediaPipe's crop scale around a face box / around the mesh's own bounding box.
ROI_SCALE = 1.5
#: MediaPipe's crop scale around an eye's corners.
IRIS_ROI_SCALE = 2.3
#: Eye corners (outer, inner) of the eye on the image left (the person's right eye), and on the image right.
EYE_CORNERS: tuple[tuple[int, int], tuple[int, int]] = ((33, 133), (263, 362))
#: MediaPipe ``face_landmark`` presence threshold.
PRESENCE_THRESHOLD = 0.5


@dataclass(frozen=True)
class Roi:
    """A rotated square in image pixels: centre, side and angle (radians, the crop's x axis in the image)."""

    cx: float
    cy: float
    size: float
    angle: float

    def matrix(self, out: int) -> np.ndarray:
        """The 2x3 affine map from image pixels to an ``out`` x ``out`` crop."""
        k = out / max(self.size, 1e-6)
        c, s = np.cos(self.angle), np.sin(self.angle)
        a = k * np.array([[c, s], [-s, c]])
        t = np.array([out / 2, out / 2]) - a @ np.array([self.cx, self.cy])
        return np.hstack([a, t[:, None]]).astype(np.float64)

    def to_image(self, pts: np.ndarray, out: int) -> np.ndarray:
        """Crop points ``[N, 3]`` (x, y, z in crop pixels) back to image pixels; z is scaled like x."""
        k = self.size / out
        c, s = np.cos(self.angle), np.sin(self.angle)
        rot = np.array([[c, -s], [s, c]])
        xy = (pts[:, :2] - out / 2) * k @ rot.T + np.array([self.cx, self.cy])
        return np.hstack([xy, pts[:, 2:3] * k]).astype(np.float32)


@dataclass(frozen=True, eq=False)
class Mesh:
    """Dense landmarks of one face.

    Attributes
    ----------
    points : numpy.ndarray
        ``[468, 3]`` float32: x, y in image pixels, z relative depth (smaller is nearer), scaled like x.
        MediaPipe's point numbering (33/133 and 263/362 the eye corners, 1 the nose tip, 13/14 the inner lips).
    score : float
        Face presence (sigmoid of the model's flag), 0-1.
    iris : numpy.ndarray or None
        ``[2, 5, 3]``: for the eye on the image left, then on the image right, the iris centre and 4 rim points.
    eye_contours : numpy.ndarray or None
        ``[2, 71, 3]``: the iris model's eye-contour and brow points, same eye order.
    """

    points: np.ndarray
    score: float
    iris: np.ndarray | None = None
    eye_contours: np.ndarray | None = None


def mesh_roi(points: np.ndarray, scale: float = ROI_SCALE) -> Roi:
    """MediaPipe's crop from landmarks: their bounding box, ``scale`` times its longer side, eyes level."""
    (x0, y0), (x1, y1) = points[:, :2].min(0), points[:, :2].max(0)
    a, b = points[EYE_CORNERS[0][0], :2], points[EYE_CORNERS[1][0], :2]
    angle = float(np.arctan2(b[1] - a[1], b[0] - a[0]))
    return Roi(float(x0 + x1) / 2, float(y0 + y1) / 2, float(max(x1 - x0, y1 - y0)) * scale, angle)


def follow_eyes(previous: Mesh, current: Mesh) -> Mesh:
    """``current`` with ``previous``'s irises and eye contours carried along: each eye's points moved by the
    similarity transform that takes its corners in ``previous`` onto those in ``current`` (so the eye's openness and
    the iris's place in the eye stay as last measured while the head moves)."""
    if previous.iris is None or previous.eye_contours is None:
        return current
    irises, contours = [], []
    for e, (outer, inner) in enumerate(EYE_CORNERS):
        a0, b0 = previous.points[outer, :2].astype(np.float64), previous.points[inner, :2].astype(np.float64)
        a1, b1 = current.points[outer, :2].astype(np.float64), current.points[inner, :2].astype(np.float64)
        v0, v1 = complex(*(b0 - a0)), complex(*(b1 - a1))
        if abs(v0) <= 1e-6:
            return current
        k = v1 / v0  # rotation and scale as one complex factor

        def move(p: np.ndarray, k: complex = k, a0: np.ndarray = a0, a1: np.ndarray = a1) -> np.ndarray:
            z = (p[:, 0] - a0[0]) + 1j * (p[:, 1] - a0[1])
            z = z * k
            out = p.copy()
            out[:, 0], out[:, 1], out[:, 2] = z.real + a1[0], z.imag + a1[1], p[:, 2] * abs(k)
            return out.astype(np.float32)

        irises.append(move(np.asarray(previous.iris[e], dtype=np.float64)))
        contours.append(move(np.asarray(previous.eye_contours[e], dtype=np.float64)))
    return Mesh(current.points, current.score, np.stack(irises), np.stack(contours))


def box_roi(box: Any, landmarks: Any = None, scale: float = ROI_SCALE) -> Roi:
    """The crop from a detection: the box centre, ``scale`` times its longer side, eyes level when known."""
    angle = 0.0
    if landmarks is not None:
        p = np.asarray(landmarks.points, dtype=np.float64)
        if np.isfinite(p[:2]).all():
            angle = float(np.arctan2(p[1, 1] - p[0, 1], p[1, 0] - p[0, 0]))
    return Roi((box.x1 + box.x2) / 2, (box.y1 + box.y2) / 2, max(box.width, box.height) * scale, angle)


def crop(rgb: np.ndarray, roi: Roi, out: int, flip: bool = False) -> np.ndarray:
    """The ``out`` x ``out`` crop of ``roi`` (border pixels replicated, as MediaPipe does)."""
    patch = cv2.warpAffine(rgb, roi.matrix(out), (out, out), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    return patch[:, ::-1] if flip else patch


class FaceMesh:
    """The face-mesh stage: 468 points (+ irises) for each detected face.

    Parameters
    ----------
    iris:
        Also run the iris model (two eye crops per face).
    refine:
        Extra passes that re-crop from the previous pass's landmarks (MediaPipe's tracking crop).
    threads:
        Cores the stage may use (0: all). Each model runs on one ONNX Runtime thread: these networks are too small
        for ONNX Runtime to split one call well (the mesh took 2.5 ms on two threads against 1.6 ms on one). With
        two cores or more the work is split in two halves that run at once instead: the faces, when there are
        several (each half runs its own mesh, refine and iris calls), or else one face's two eye crops (iris 3.65
        -> about 2 ms for both eyes).
    """

    def __init__(self, *, iris: bool = True, refine: int = 1, threads: int = 0) -> None:
        self.refine = int(refine)
        self.info = find_model("facemesh", LandmarksManifest)
        self._mesh = onnx_session(self.info, 1)
        self._iris = onnx_session(find_model("iris", LandmarksManifest), 1) if iris else None
        cores = threads if threads > 0 else os.cpu_count() or 1
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="emolens-landmarks") if cores >= 2 else None

    def predict(
        self,
        rgb: np.ndarray,
        faces: Sequence[Any],
        rois: Sequence[Roi | None] | None = None,
        iris: Sequence[bool] | None = None,
    ) -> list[Mesh]:
        """One :class:`Mesh` per face (anything with ``box`` and ``landmarks``: a Detection or a Face).

        ``rois`` may give a crop per face (e.g. :meth:`roi` of the same track's mesh in the previous video frame,
        as MediaPipe tracks faces): such a face is run once, without the ``refine`` passes. ``iris`` says per face
        whether to run the iris model (default: every face, when the stage has it).
        """
        if not faces:
            return []
        given = list(rois) if rois is not None else [None] * len(faces)
        wants = list(iris) if iris is not None else [True] * len(faces)
        if len(given) != len(faces) or len(wants) != len(faces):
            raise ValueError(f"{len(faces)} faces need as many rois and iris flags, got {len(given)} and {len(wants)}")
        if self._pool is None or len(faces) < 2:
            return self._predict(rgb, list(faces), given, wants, split_eyes=True)
        # several faces: two halves at once, each on its own thread (ONNX Runtime runs concurrent calls of a session)
        half = (len(faces) + 1) // 2
        first, second = _at_once(
            self._pool,
            lambda: self._predict(rgb, list(faces[:half]), given[:half], wants[:half], False),
            lambda: self._predict(rgb, list(faces[half:]), given[half:], wants[half:], False),
        )
        return first + second

    def _predict(
        self, rgb: np.ndarray, faces: list[Any], given: list[Roi | None], iris: list[bool], split_eyes: bool
    ) -> list[Mesh]:
        """:meth:`predict` on one thread, except the eye crops when ``split_eyes``."""
        first = [r if r is not None else box_roi(f.box, f.landmarks) for f, r in zip(faces, given, strict=True)]
        pts, scores = self._run_mesh(rgb, first)
        fresh = [i for i, r in enumerate(given) if r is None]  # a crop from the previous frame is already tight
        for _ in range(self.refine if fresh else 0):
            again, again_scores = self._run_mesh(rgb, [mesh_roi(pts[i]) for i in fresh])
            for k, i in enumerate(fresh):
                pts[i], scores[i] = again[k], again_scores[k]
        irises: list[Any] = [None] * len(pts)
        contours: list[Any] = [None] * len(pts)
        wanted = [i for i in range(len(pts)) if iris[i]]
        if self._iris is not None and wanted:
            got_i, got_c = self._run_iris(rgb, [pts[i] for i in wanted], split_eyes)
            for k, i in enumerate(wanted):
                irises[i], contours[i] = got_i[k], got_c[k]
        return [Mesh(p, float(s), i, c) for p, s, i, c in zip(pts, scores, irises, contours, strict=True)]

    def roi(self, mesh: Mesh) -> Roi:
        """The crop MediaPipe would use for this face in the next frame."""
        return mesh_roi(mesh.points)

    def _run_mesh(self, rgb: np.ndarray, rois: list[Roi]) -> tuple[list[np.ndarray], np.ndarray]:
        batch = np.stack([crop(rgb, r, MESH_SIZE) for r in rois])
        raw, flag = self._mesh.run(["landmarks", "face_flag"], {"image": batch})
        raw = raw.reshape(len(rois), MESH_POINTS, 3)
        pts = [r.to_image(p, MESH_SIZE) for r, p in zip(rois, raw, strict=True)]
        return pts, 1.0 / (1.0 + np.exp(-np.clip(flag.reshape(-1).astype(np.float64), -80, 80)))

    def _eyes(self, batch: np.ndarray, split: bool) -> tuple[np.ndarray, np.ndarray]:
        """The iris model's eye contours and irises for a batch of eye crops, in two calls at once when ``split``."""
        assert self._iris is not None
        names = ["eye_contour", "iris"]
        if self._pool is None or not split or len(batch) < 2:
            contour, iris = self._iris.run(names, {"image": batch})
            return contour, iris
        half = len(batch) // 2  # ONNX Runtime runs concurrent calls of one session, each on its calling thread
        first, second = _at_once(
            self._pool,
            lambda: self._iris.run(names, {"image": batch[:half]}),
            lambda: self._iris.run(names, {"image": batch[half:]}),
        )
        return np.concatenate([first[0], second[0]]), np.concatenate([first[1], second[1]])

    def _run_iris(
        self, rgb: np.ndarray, meshes: list[np.ndarray], split: bool
    ) -> tuple[list[np.ndarray], list[np.ndarray]]:
        rois, flips = [], []
        for p in meshes:
            for e, (outer, inner) in enumerate(EYE_CORNERS):
                a, b = (p[outer, :2], p[inner, :2]) if e == 0 else (p[inner, :2], p[outer, :2])
                centre = (a + b) / 2
                angle = float(np.arctan2(b[1] - a[1], b[0] - a[0]))
                size = float(np.linalg.norm(b - a)) * IRIS_ROI_SCALE
                rois.append(Roi(float(centre[0]), float(centre[1]), max(size, 1.0), angle))
                flips.append(e == 1)
        batch = np.stack([crop(rgb, r, IRIS_SIZE, flip=f) for r, f in zip(rois, flips, strict=True)])
        contour_raw, iris_raw = self._eyes(batch, split)
        irises, contours = [], []
        for k in range(len(meshes)):
            pair_i, pair_c = [], []
            for e in range(2):
                j = 2 * k + e
                ir = iris_raw[j].reshape(5, 3).copy()
                co = contour_raw[j].reshape(71, 3).copy()
                if flips[j]:
                    ir[:, 0] = IRIS_SIZE - ir[:, 0]
                    co[:, 0] = IRIS_SIZE - co[:, 0]
                pair_i.append(rois[j].to_image(ir, IRIS_SIZE))
                pair_c.append(rois[j].to_image(co, IRIS_SIZE))
            irises.append(np.stack(pair_i))
            contours.append(np.stack(pair_c))
        return irises, contours


def _at_once(pool: ThreadPoolExecutor, here: Callable[[], T], there: Callable[[], U]) -> tuple[T, U]:
    """``here()`` on this thread while ``there()`` runs on the pool's, and both results. Both calls are over when
    this returns, also when ``here`` fails, so that none outlives :meth:`FaceMesh.predict` (its image may be
    reused)."""
    later = pool.submit(there)
    try:
        first = here()
    except BaseException:
        wait([later])
        raise
    return first, later.result()
