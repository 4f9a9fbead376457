"""Shipped model files. Each ``NAME.onnx`` sits beside ``NAME.json``, its manifest."""
