"""Dense face landmarks: MediaPipe's 468-point face mesh and its iris model, run with ONNX Runtime.

``FaceMesh().predict(rgb, detections)`` gives one :class:`Mesh` per detection: 468 points (x, y in image
pixels, z relative depth on the same scale, smaller nearer the camera), the face-presence score, and, with the
iris model, 5 points per iris.
"""

from emolens.landmarks.facemesh import MESH_POINTS, FaceMesh, Mesh, follow_eyes, mesh_roi

__all__ = ["MESH_POINTS", "FaceMesh", "Mesh", "follow_eyes", "mesh_roi"]
