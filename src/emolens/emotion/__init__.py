"""Emotion classification of aligned face crops with a shipped ONNX model."""

from emolens.emotion.classifier import EmotionModel

__all__ = ["EmotionModel"]
