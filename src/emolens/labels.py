"""Label sets and the one table of mappings between them."""

from __future__ import annotations

#: FER2013 order; 8-class models append contempt as index 7.
FER2013: tuple[str, ...] = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")
FERPLUS: tuple[str, ...] = (*FER2013, "contempt")

#: Valence sign of each emotion (positive, negative or neutral), for summaries.
VALENCE: dict[str, float] = {
    "angry": -1.0,
    "disgust": -1.0,
    "fear": -1.0,
    "happy": 1.0,
    "sad": -1.0,
    "surprise": 0.0,
    "neutral": 0.0,
    "contempt": -1.0,
}


def labels_for(num_classes: int) -> tuple[str, ...]:
    """The label names of a model with ``num_classes`` outputs."""
    if num_classes == 7:
        return FER2013
    if num_classes == 8:
        return FERPLUS
    raise ValueError(f"no label set has {num_classes} classes")
