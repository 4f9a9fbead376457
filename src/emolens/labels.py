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


#: RAVDESS speech emotions, in the order of its emotion codes 01-08: the output order of the voice model.
RAVDESS: tuple[str, ...] = ("neutral", "calm", "happy", "sad", "angry", "fearful", "disgust", "surprised")

#: RAVDESS label -> FER2013 label. Calm has no FER2013 counterpart and is merged into neutral (its probability is
#: added to neutral's); the other seven map one to one.
RAVDESS_TO_FER2013: dict[str, str] = {
    "neutral": "neutral",
    "calm": "neutral",
    "happy": "happy",
    "sad": "sad",
    "angry": "angry",
    "fearful": "fear",
    "disgust": "disgust",
    "surprised": "surprise",
}

#: Text emotion sources and their mapping onto the face labels (FER2013 order); one table per source.
#: GoEmotions: the official Ekman grouping of its 27 emotions (ekman_mapping.json), renamed, plus neutral.
GOEMOTIONS_EKMAN_TO_FACE: dict[str, str] = {
    "anger": "angry",
    "disgust": "disgust",
    "fear": "fear",
    "joy": "happy",
    "sadness": "sad",
    "surprise": "surprise",
    "neutral": "neutral",
}
#: dair-ai emotion (CARER): six classes, no disgust, no neutral; love counts as happy.
DAIR_EMOTION: tuple[str, ...] = ("sadness", "joy", "love", "anger", "fear", "surprise")
DAIR_TO_FACE: dict[str, str] = {
    "sadness": "sad",
    "joy": "happy",
    "love": "happy",
    "anger": "angry",
    "fear": "fear",
    "surprise": "surprise",
}
#: SMP2020-EWECT (Weibo): six classes, no disgust; "happy" is the official broader "positive" (积极) class;
#: the training files spell neutral "neural".
SMP2020: tuple[str, ...] = ("neutral", "happy", "angry", "sad", "fear", "surprise")
SMP2020_TO_FACE: dict[str, str] = {c: c for c in SMP2020}
