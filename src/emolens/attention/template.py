"""A 3D mean face for head pose: MediaPipe's canonical face model at its Procrustes landmarks.

The coordinates (centimetres; for a face looking at the camera x points to the image right, y up and z out of
the face towards the camera) and the weights are those of
``mediapipe/modules/face_geometry/data/geometry_pipeline_metadata_landmarks.pbtxt`` (``canonical_mesh`` and
``procrustes_landmark_basis``) in the MediaPipe repository (github.com/google-ai-edge/mediapipe),
Copyright 2020 The MediaPipe Authors, licensed under the Apache License 2.0 (notice in
``emolens/models/LICENSES/facemesh.txt``). MediaPipe's geometry pipeline fits this model to the face mesh with a
weighted Procrustes solve; :func:`emolens.attention.geometry.head_pose` does the same. Only the 33 weighted
points (and the chin and mouth corners) are kept; the face's right half is the mirror image of its left.
"""

from __future__ import annotations

import numpy as np

# mesh index: (x, y, z, weight) for the midline and the eye-on-the-image-left half (x < 0)
_HALF: dict[int, tuple[float, float, float, float]] = {
    4: (0.0, -0.463170, 7.586580, 0.070909939706326),
    6: (0.0, 2.473255, 5.788627, 0.032100144773722),
    10: (0.0, 8.261778, 4.481535, 0.008446550928056),
    33: (-4.445859, 2.663991, 3.173422, 0.058724168688059),
    54: (-6.279331, 6.615427, 1.425850, 0.007667080033571),
    67: (-3.523964, 8.005976, 3.729163, 0.009078059345484),
    117: (-5.258659, 0.945811, 2.974312, 0.009791937656701),
    119: (-3.300681, 0.861641, 3.872784, 0.014565368182957),
    121: (-1.820731, 1.467954, 4.224124, 0.018591361120343),
    127: (-7.743095, 2.364999, -2.005167, 0.005197994410992),
    129: (-1.785794, -0.978284, 4.850470, 0.120625205338001),
    132: (-7.270895, -2.890917, -2.252455, 0.005560018587857),
    133: (-1.856432, 2.585245, 3.757904, 0.05328618362546),
    136: (-5.085276, -7.178590, 0.714711, 0.066890455782413),
    143: (-6.407571, 2.236021, 1.560843, 0.014816547743976),
    147: (-6.234883, -1.944430, 1.663542, 0.014262833632529),
    198: (-1.246815, 0.230297, 5.681036, 0.025462191551924),
    205: (-3.832928, -1.537326, 4.137731, 0.047252278774977),
}
# the mirror partner (x → -x) of each point of the half above
_MIRROR: dict[int, int] = {
    33: 263, 54: 284, 67: 297, 117: 346, 119: 348, 121: 350, 127: 356, 129: 358,
    132: 361, 133: 362, 136: 365, 143: 372, 147: 376, 198: 420, 205: 425,
}  # fmt: skip


def _build() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    idx, xyz, w = [], [], []
    for i, (x, y, z, weight) in _HALF.items():
        idx.append(i)
        xyz.append((x, y, z))
        w.append(weight)
        if i in _MIRROR:
            idx.append(_MIRROR[i])
            xyz.append((-x, y, z))
            w.append(weight)
    return np.array(idx), np.array(xyz, dtype=np.float64), np.array(w, dtype=np.float64)


#: Mesh indices, their 3D template coordinates ``[33, 3]`` and Procrustes weights.
INDICES, POINTS, WEIGHTS = _build()
