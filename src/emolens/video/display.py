"""A live view window for ``emolens video --show``: annotated frames as they are analysed.

emolens depends on ``opencv-python-headless``, which has no windows; a live view needs a GUI build of OpenCV
(``pip install opencv-python`` in place of the headless one) and a display. Without either, the analysis
runs headless and the reason is given once.
"""

from __future__ import annotations

import os
import sys

import numpy as np

from emolens.types import FrameResult


def display_problem() -> str | None:
    """Why a window cannot be shown here, or ``None`` if it can."""
    if sys.platform.startswith("linux") and not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        return "no display: DISPLAY and WAYLAND_DISPLAY are unset"
    import cv2

    info = cv2.getBuildInformation()
    gui = ""
    for line in info.splitlines():
        if line.strip().startswith("GUI:"):
            gui = line.split(":", 1)[1].strip()
            break
    if gui.upper() in ("", "NONE"):
        return "this OpenCV build has no GUI (opencv-python-headless); install opencv-python for a live view"
    return None


class LiveWindow:
    """Shows annotated frames; :meth:`show` returns ``False`` once the user closes it or presses q or Esc."""

    def __init__(self, title: str = "emolens") -> None:
        import cv2

        self.title = title
        cv2.namedWindow(title, cv2.WINDOW_NORMAL)
        self._open = True

    def show(self, result: FrameResult, rgb: np.ndarray) -> bool:
        import cv2

        from emolens.draw import annotate
        from emolens.video.outputs.annotated import display_face

        if not self._open:
            return False
        img = annotate(rgb, [display_face(f) for f in result.faces])
        cv2.imshow(self.title, img[..., ::-1])
        key = cv2.waitKey(1) & 0xFF
        if key in (ord("q"), 27) or cv2.getWindowProperty(self.title, cv2.WND_PROP_VISIBLE) < 1:
            self.close()
            return False
        return True

    def close(self) -> None:
        if self._open:
            import cv2

            cv2.destroyWindow(self.title)
            self._open = False
