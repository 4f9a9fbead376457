"""Per-face attention measures from the face mesh, for photos and, with per-track state, for video."""

from __future__ import annotations

import dataclasses
import math
import numbers
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from emolens.attention import geometry
from emolens.attention.tracking import TrackAttention, TrackTimings
from emolens.errors import ConfigError
from emolens.types import AttentionState, EyeState, Face, HeadPose, MouthState

#: Eye aspect ratio (on the iris model's eye contour, :func:`geometry.contour_eye_ratio`) under which the eyes count
#: as closed: chosen on the ``valid`` split of ``attention/eyes`` only (``scripts/bench_attention.py --fit``).
EYE_CLOSED_EAR = 0.3906
#: The same on the mesh's six-point outline (:func:`geometry.eye_aspect_ratio`), used without the iris model.
EYE_CLOSED_EAR_MESH = 0.2863
#: The yawn classifier: a logistic regression on :func:`geometry.yawn_features` (the head-pose-normalised inner-lip
#: gap, that gap over the mouth width, and how low the mouth corners sit under the upper lip; sizes over the
#: outer-eye-corner distance), standardised; fitted by ``research/fit_yawn.py`` on the 200 yawns of
#: ``attention/yawn`` against the faces in its 120 ``none`` photos (talking, eating) and the ``train`` faces of
#: ``faces_extra/taiwanese`` (posed laughs, surprise, fear...). The intercept puts probability 0.5 at the 8th
#: percentile of the yawns' scores. Out of fold (grouped 5-fold cross-validation, 5 shuffles): recall 0.905-0.92 of
#: the 200 yawns, 5-6 false yawns among the 119 ``none`` faces and 22-27 among the 986 taiwanese ones (39-42
#: without the corner feature). The gap-over-width weight is negative here: it is correlated with the corners,
#: which carry the tall, round shape of a yawning mouth (docs/benchmarks.md, "Yawns: the mouth corners").
YAWN_MODEL: dict[str, Any] = {
    "features": [0, 1, 2],  # the columns of geometry.yawn_features it reads
    "mean": [0.089853, 0.174257, 0.027875],
    "scale": [0.094982, 0.179504, 0.028208],
    "coef": [3.68033, -1.652885, 2.394082],
    "intercept": -3.980184,
}
#: The mesh's face score (0-1) under which it does not see a face: no yawn decision then (an upside-down or
#: half-hidden face gives a mesh whose mouth is meaningless).
MESH_FACE = 0.5


def yawn_probability(features: np.ndarray, model: dict[str, Any] | None = None) -> float:
    """The yawn classifier's probability for one face's :func:`geometry.yawn_features` (NaN if one is missing)."""
    m = model or YAWN_MODEL
    f = np.asarray(features, dtype=np.float64)
    f = f[m["features"]] if "features" in m else f
    if f.shape != (len(m["coef"]),):
        raise ValueError(f"the yawn model reads {len(m['coef'])} features, got {f.shape}")
    x = (f - np.asarray(m["mean"])) / np.asarray(m["scale"])
    if not np.isfinite(x).all():
        return float("nan")
    z = float(x @ np.asarray(m["coef"]) + m["intercept"])
    return 1.0 / (1.0 + math.exp(-max(-60.0, min(60.0, z))))


@dataclass(frozen=True)
class AttentionConfig:
    """How attention is judged.

    Parameters
    ----------
    cone:
        Half-angle in degrees around the target within which a face attends (default 25).
    target_yaw, target_pitch:
        The target direction in degrees (head-pose convention); ``0, 0`` is the camera.
    use_gaze:
        Add the eye-in-head gaze from the irises to the head direction where the eyes are open.
    eye_closed:
        Eye aspect ratio (iris-model contour) under which the eyes count as closed.
    eye_closed_mesh:
        The same for the mesh's outline, used when the iris model is not run.
    yawn_threshold:
        Yawn probability (:func:`yawn_probability`) from which a face yawns (in video: held for ``yawn_min_s``).
    iris_every_s:
        Video: the iris model runs on a track at most this often (seconds; 0: every frame); in the frames between,
        the track's last irises and eye contours follow its eye corners (:func:`~emolens.landmarks.follow_eyes`).
        The default 0.05 keeps at least 20 eye samples per second (a blink lasts 0.1-0.4 s) and halves the iris
        work at 25 frames/s and more.
    smoothing:
        Video: weight of the newest frame in the running mean of where each track looks (1: no smoothing), so that
        landmark jitter at the edge of the cone does not flip the state every frame.
    timings:
        Durations for spells, blinks, PERCLOS and yawns in video (:class:`TrackTimings`).
    """

    cone: float = 25.0
    target_yaw: float = 0.0
    target_pitch: float = 0.0
    use_gaze: bool = True
    eye_closed: float = EYE_CLOSED_EAR
    eye_closed_mesh: float = EYE_CLOSED_EAR_MESH
    yawn_threshold: float = 0.5
    iris_every_s: float = 0.05
    smoothing: float = 0.4
    timings: TrackTimings = field(default_factory=TrackTimings)

    def __post_init__(self) -> None:
        if not 0 < self.smoothing <= 1:
            raise ConfigError(f"attention smoothing must be in (0, 1], got {self.smoothing!r}")
        if isinstance(self.cone, bool) or not isinstance(self.cone, numbers.Real) or not 0 < self.cone <= 180:
            raise ConfigError(f"attention cone must be a number of degrees over 0 and up to 180, got {self.cone!r}")
        if isinstance(self.iris_every_s, bool) or not isinstance(self.iris_every_s, int | float):
            raise ConfigError(f"attention iris_every_s must be a number, got {self.iris_every_s!r}")
        if not (math.isfinite(self.iris_every_s) and self.iris_every_s >= 0):
            raise ConfigError(f"attention iris_every_s must be 0 or more seconds, got {self.iris_every_s!r}")
        for name in ("target_yaw", "target_pitch", "eye_closed", "eye_closed_mesh", "yawn_threshold"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
                raise ConfigError(f"attention {name} must be a number, got {v!r}")

    @classmethod
    def from_options(cls, options: AttentionConfig | dict[str, Any] | None) -> AttentionConfig:
        if options is None or isinstance(options, AttentionConfig):
            return cls() if options is None else options
        timing_names = {f.name for f in dataclasses.fields(TrackTimings)}
        timing = {k: v for k, v in options.items() if k in timing_names}
        rest = {k: v for k, v in options.items() if k not in timing_names}
        unknown = set(rest) - {f.name for f in dataclasses.fields(cls)}
        if unknown:
            raise ConfigError(f"unknown attention option(s): {', '.join(sorted(unknown))}")
        return cls(**rest, timings=TrackTimings(**timing))


@dataclass(frozen=True)
class Measures:
    """What one frame tells about one face, before any temporal logic."""

    pose: HeadPose
    ear_left: float
    ear_right: float
    gaze: tuple[float, float] | None
    opening: float
    presence: float
    mesh: Any = None
    contour: bool = True
    yawn_p: float = float("nan")

    def yawning(self, cfg: AttentionConfig) -> bool:
        return bool(self.yawn_p >= cfg.yawn_threshold)

    def closed(self, cfg: AttentionConfig) -> bool:
        """Both eyes closed: their mean aspect ratio under the threshold of the contour it was measured on."""
        return (self.ear_left + self.ear_right) / 2 < (cfg.eye_closed if self.contour else cfg.eye_closed_mesh)

    def looking(self, cfg: AttentionConfig) -> tuple[float, float]:
        """Where the face looks (yaw, pitch): the head, plus the gaze where the eyes are open and known."""
        yaw, pitch = self.pose.yaw, self.pose.pitch
        if cfg.use_gaze and self.gaze is not None and not self.closed(cfg) and all(map(math.isfinite, self.gaze)):
            yaw, pitch = yaw + self.gaze[0], pitch + self.gaze[1]
        return yaw, pitch


def measure(mesh: Any) -> Measures:
    """Head pose, eye aspect ratios, gaze and mouth opening of one :class:`~emolens.landmarks.Mesh`.

    The eye aspect ratios come from the iris model's eye contours when the mesh has them, else from the mesh; the
    yawn probability needs only the mesh's lips (none where the mesh scores the face under ``MESH_FACE``)."""
    pts = mesh.points
    yaw, pitch, roll = geometry.head_pose(pts)
    gaze = geometry.gaze_angles(pts, mesh.iris) if mesh.iris is not None else None
    if mesh.eye_contours is not None:
        ears = [geometry.contour_eye_ratio(c) for c in mesh.eye_contours]
    else:
        ears = [geometry.eye_aspect_ratio(pts, 0), geometry.eye_aspect_ratio(pts, 1)]
    feats = geometry.yawn_features(pts)
    return Measures(
        HeadPose(yaw, pitch, roll),
        ears[0],
        ears[1],
        gaze,
        geometry.mouth_opening(pts),
        mesh.score,
        mesh,
        mesh.eye_contours is not None,
        yawn_probability(feats) if mesh.score >= MESH_FACE else float("nan"),  # the mouth alone: no iris needed
    )


def still_face(face: Face, m: Measures, cfg: AttentionConfig, looking: tuple[float, float] | None = None) -> Face:
    """``face`` with pose, eyes, mouth and attention set from one image's measures (no temporal logic);
    ``looking`` overrides where the face looks (a track's smoothed direction)."""
    yaw, pitch = looking if looking is not None else m.looking(cfg)
    off = geometry.angle_between(yaw, pitch, cfg.target_yaw, cfg.target_pitch)
    gaze = m.gaze or (None, None)
    return dataclasses.replace(
        face,
        pose=m.pose,
        eyes=EyeState(m.ear_left, m.ear_right, m.closed(cfg), _finite(gaze[0]), _finite(gaze[1])),
        mouth=MouthState(m.opening, m.yawning(cfg), _finite(m.yawn_p)),
        attention=AttentionState(off <= cfg.cone, off, cfg.cone, cfg.target_yaw, cfg.target_pitch),
    )


class AttentionAnalyzer:
    """Adds pose, eyes, mouth and attention to faces: photos (:meth:`faces`) and video tracks (:meth:`frame`).

    Parameters
    ----------
    config:
        An :class:`AttentionConfig` or a dict of its fields (and :class:`TrackTimings` fields).
    iris:
        Run the iris model for the gaze.
    refine:
        Extra face-mesh passes on the mesh's own crop (see :class:`~emolens.landmarks.FaceMesh`).
    threads:
        ONNX Runtime threads per model.
    calibrate_s:
        Video only: take the target as the median direction the faces look in during the first ``calibrate_s``
        seconds (everyone is assumed to look at the target then); until then the median so far is used.
    keep_finished:
        Keep each ended track's spells, blinks, closures and yawns in ``finished`` (for ``attention.json`` and
        reports); a source that runs for days with no one to read them (the service's ``--source``) sets False.
    """

    def __init__(
        self,
        config: AttentionConfig | dict[str, Any] | None = None,
        *,
        iris: bool = True,
        refine: int = 1,
        threads: int = 0,
        calibrate_s: float | None = None,
        keep_finished: bool = True,
    ) -> None:
        from emolens.landmarks import FaceMesh

        self.config = AttentionConfig.from_options(config)
        if calibrate_s is not None and not (math.isfinite(calibrate_s) and calibrate_s > 0):
            raise ConfigError(f"calibration time must be a positive number of seconds, got {calibrate_s!r}")
        self.calibrate_s = calibrate_s
        self.calibrated = calibrate_s is None
        self._calibration: list[tuple[float, float]] = []
        self._t0: float | None = None
        self.mesh = FaceMesh(iris=iris, refine=refine, threads=threads)
        self._tracks: dict[int, TrackAttention] = {}
        self._looking: dict[int, tuple[float, float]] = {}
        self._rois: dict[int, Any] = {}
        #: per track: when the iris model last ran on it, and that frame's mesh (irises and eye contours)
        self._eyes: dict[int, tuple[float, Any]] = {}
        self.keep_finished = keep_finished
        self.finished: dict[int, TrackAttention] = {}

    def measures(self, rgb: np.ndarray, faces: Sequence[Any]) -> list[Measures]:
        return [measure(m) for m in self.mesh.predict(rgb, faces)]

    def faces(self, rgb: np.ndarray, faces: Sequence[Face]) -> list[Face]:
        """Photo faces with their attention fields set."""
        return [still_face(f, m, self.config) for f, m in zip(faces, self.measures(rgb, faces), strict=True)]

    def frame(self, rgb: np.ndarray, t: float, faces: Sequence[Face], removed: Sequence[int] = ()) -> list[Face]:
        """Tracked faces of one video frame at time ``t`` with attention fields, blinks, PERCLOS, focus and yawns."""
        from emolens.landmarks import follow_eyes

        out = []
        # MediaPipe's tracking: a track whose face was found in the previous frame is cropped where it was
        # (one mesh pass); the detector box is used when the face has moved away from that crop
        rois = []
        for f in faces:
            r = self._rois.get(f.track_id) if f.track_id is not None else None
            if r is not None and not _near(r, f.box):
                r = None
            rois.append(r)
        # the irises of a track followed from the last frame that ran them, while that is recent enough
        follow = [
            r is not None and f.track_id in self._eyes and t - self._eyes[f.track_id][0] < self.config.iris_every_s
            for f, r in zip(faces, rois, strict=True)
        ]
        meshes = self.mesh.predict(rgb, faces, rois, [not x for x in follow])
        meshes = [
            follow_eyes(self._eyes[f.track_id][1], m) if x else m for f, m, x in zip(faces, meshes, follow, strict=True)
        ]
        measures = [measure(m) for m in meshes]
        for f, m, x in zip(faces, meshes, follow, strict=True):
            if f.track_id is not None:
                self._rois[f.track_id] = self.mesh.roi(m) if m.score >= 0.5 else None
                if not x and m.eye_contours is not None:
                    self._eyes[f.track_id] = (t, m)
        if not self.calibrated:
            self._calibrate(t, measures)
        for f, m in zip(faces, measures, strict=True):
            out.append(self.track_face(f, m, t))
        for tid in removed:
            self.end_track(tid)
        return out

    def _calibrate(self, t: float, measures: list[Measures]) -> None:
        from emolens.attention.tracking import calibrate_target

        if self._t0 is None:
            self._t0 = t
        self._calibration += [m.looking(self.config) for m in measures]
        if self._calibration:
            yaw, pitch = calibrate_target(self._calibration)
            self.config = dataclasses.replace(self.config, target_yaw=yaw, target_pitch=pitch)
        if self.calibrate_s is not None and t - self._t0 >= self.calibrate_s and self._calibration:
            self.calibrated = True
            self._calibration = []

    def track_face(self, face: Face, m: Measures, t: float) -> Face:
        cfg = self.config
        if face.track_id is None:
            return still_face(face, m, cfg)
        now = m.looking(cfg)
        prev = self._looking.get(face.track_id)
        if prev is not None and all(map(math.isfinite, now)) and all(map(math.isfinite, prev)):
            a = cfg.smoothing
            now = (a * now[0] + (1 - a) * prev[0], a * now[1] + (1 - a) * prev[1])
        self._looking[face.track_id] = now
        still = still_face(face, m, cfg, now)
        tr = self._tracks.get(face.track_id)
        if tr is None:
            tr = self._tracks[face.track_id] = TrackAttention(cfg.timings)
        s = tr.update(t, still.attention.attending, still.eyes.closed, m.yawning(cfg))
        return dataclasses.replace(
            still,
            eyes=dataclasses.replace(still.eyes, blink=s["blink"]),
            mouth=MouthState(m.opening, s["yawn"], _finite(m.yawn_p)),
            attention=dataclasses.replace(
                still.attention,
                focus_s=s["focus_s"],
                perclos=s["perclos"],
                blink_rate=s["blink_rate"],
                spell_start=s["spell_start"],
            ),
        )

    def end_track(self, track_id: int) -> TrackAttention | None:
        tr = self._tracks.pop(track_id, None)
        self._looking.pop(track_id, None)
        self._rois.pop(track_id, None)
        self._eyes.pop(track_id, None)
        if tr is not None:
            tr.finish()
            if self.keep_finished:
                self.finished[track_id] = tr
        return tr

    def close(self) -> dict[int, TrackAttention]:
        """Finish every open track; all tracks' spells, blinks, closures and yawns by track id."""
        for tid in list(self._tracks):
            self.end_track(tid)
        return self.finished


def _near(roi: Any, box: Any) -> bool:
    """Whether a previous frame's crop still frames the detector's box: centres within a quarter of the box size
    and sizes within 30 % (the crop is 1.5x the face)."""
    cx, cy = (box.x1 + box.x2) / 2, (box.y1 + box.y2) / 2
    side = max(box.width, box.height, 1e-6)
    return abs(roi.cx - cx) < 0.25 * side and abs(roi.cy - cy) < 0.25 * side and 0.7 < roi.size / (1.5 * side) < 1.6


def _finite(x: float | None) -> float | None:
    return None if x is None or not math.isfinite(x) else float(x)
