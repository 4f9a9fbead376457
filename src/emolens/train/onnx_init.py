"""Start training from an exported ONNX model: a shipped emotion model, or any `emolens export` of a `cnn`.

The exported graph has each batch norm folded into the convolution before it (weight W·γ/σ, bias β − μγ/σ), so
the folded weights go into the convolution and the batch norm is rebuilt around them. Left as an identity it
would be exact in evaluation but not in training, where batch norm rescales each channel by its batch statistics.
Instead it gets the statistics of the convolution's own output on a calibration batch (mean m, deviation s):
running mean m, running variance s² − ε, scale s and shift m + b. In evaluation that is x + b again, the exported
function; in training it is close to it for any batch drawn like the calibration one. The result is checked
against ONNX Runtime on the calibration batch.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import nn

from emolens.errors import ConfigError

PARITY_TOL = 1e-3


def _graph_layers(path: Path) -> tuple[list[tuple[np.ndarray, np.ndarray | None]], list[tuple[np.ndarray, np.ndarray]]]:
    """The Conv and Gemm layers' weights and biases, in graph order."""
    import onnx
    from onnx import numpy_helper

    graph = onnx.load(str(path)).graph
    init = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
    convs: list[tuple[np.ndarray, np.ndarray | None]] = []
    gemms: list[tuple[np.ndarray, np.ndarray]] = []
    for node in graph.node:
        if node.op_type == "Conv":
            if node.input[1] not in init:
                raise ConfigError(f"{path.name}: a convolution's weights are computed in the graph; not a start")
            bias = init.get(node.input[2]) if len(node.input) > 2 else None
            convs.append((init[node.input[1]], bias))
        elif node.op_type == "Gemm":
            attrs = {a.name: a.i for a in node.attribute if a.type == onnx.AttributeProto.INT}
            w = init[node.input[1]]
            gemms.append((w if attrs.get("transB", 0) else w.T, init[node.input[2]]))
        elif node.op_type not in _KNOWN:
            raise ConfigError(f"{path.name}: its {node.op_type} layer has no counterpart; start from a `cnn` export")
    return convs, gemms


# Layers without weights that a `cnn` export holds; anything else means another architecture.
_KNOWN = {"Relu", "MaxPool", "GlobalAveragePool", "Flatten", "Reshape", "Shape", "Gather", "Unsqueeze", "Concat"}


def check_preprocessing(path: Path, crop: int, mean: float, std: float) -> None:
    """Refuse a start whose manifest (the ``.json`` beside the graph, where there is one) feeds the network other
    inputs than this config would: another crop size or normalisation."""
    import json

    manifest = path.with_suffix(".json")
    if not manifest.is_file():
        return
    pre = json.loads(manifest.read_text()).get("preprocessing", {})
    want = {"input_size": crop, "mean": mean, "std": std}
    diff = [f"{k} {pre[k]} (config: {v})" for k, v in want.items() if k in pre and float(pre[k]) != float(v)]
    if diff:
        raise ConfigError(f"{path.name} was trained on other inputs: {', '.join(diff)}; set the same in the config")


def _conv_bn_pairs(model: nn.Module) -> list[tuple[nn.Conv2d, nn.BatchNorm2d | None]]:
    mods = list(model.modules())
    pairs: list[tuple[nn.Conv2d, nn.BatchNorm2d | None]] = []
    for i, m in enumerate(mods):
        if isinstance(m, nn.Conv2d):
            nxt = mods[i + 1] if i + 1 < len(mods) else None
            bn = nxt if isinstance(nxt, nn.BatchNorm2d) and nxt.num_features == m.out_channels else None
            pairs.append((m, bn))
    return pairs


def load_onnx_weights(model: nn.Module, path: Path, calib: torch.Tensor) -> list[str]:
    """Load the exported model at ``path`` into ``model`` (a `cnn` of the same widths) and return the names of the
    parameters left at their initial values: the last layer, when the class count differs.

    ``calib`` is a batch of normalised training inputs at the model's input size (a few hundred rows suffice).
    Raises ``ConfigError`` when the graph does not fit the network or the loaded network does not reproduce it."""
    convs, gemms = _graph_layers(path)
    pairs = _conv_bn_pairs(model)
    linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
    if len(convs) != len(pairs) or len(gemms) != len(linears):
        raise ConfigError(
            f"{path.name} has {len(convs)} convolutions and {len(gemms)} dense layers, the network "
            f"{len(pairs)} and {len(linears)}; start from an export of the same architecture"
        )
    for (w, _), (conv, _) in zip(convs, pairs, strict=True):
        if tuple(w.shape) != tuple(conv.weight.shape):
            raise ConfigError(
                f"{path.name}: a convolution of shape {tuple(w.shape)} meets one of {tuple(conv.weight.shape)}; "
                "set the same arch_kwargs (widths) as the exported model"
            )
    names = {id(p): n for n, p in model.named_parameters()}
    skipped: list[str] = []
    with torch.no_grad():
        for (w, b), (conv, bn) in zip(convs, pairs, strict=True):
            conv.weight.copy_(torch.tensor(w))
            b_t = torch.tensor(b) if b is not None else torch.zeros(conv.out_channels)
            if bn is None:
                if conv.bias is None:
                    raise ConfigError(f"{path.name}: a convolution with a bias meets one without a batch norm or bias")
                conv.bias.copy_(b_t)
            else:
                if conv.bias is not None:
                    conv.bias.zero_()
                bn.running_mean.zero_()
                bn.running_var.fill_(1.0 - bn.eps)
                bn.weight.fill_(1.0)
                bn.bias.copy_(b_t)
        for i, ((w, b), lin) in enumerate(zip(gemms, linears, strict=True)):
            if tuple(w.shape) != tuple(lin.weight.shape):
                if i < len(linears) - 1:
                    raise ConfigError(
                        f"{path.name}: a dense layer of shape {tuple(w.shape)} meets one of {tuple(lin.weight.shape)}"
                    )
                skipped += [names[id(lin.weight)], names[id(lin.bias)]]  # a new head for other classes
                continue
            lin.weight.copy_(torch.tensor(w))
            lin.bias.copy_(torch.tensor(b))
        _fit_batch_norms(model, [p for p in pairs if p[1] is not None], calib)
    if not skipped:
        _check_parity(model, path, calib)
    return skipped


def _fit_batch_norms(model: nn.Module, pairs: list, calib: torch.Tensor) -> None:
    """Give each rebuilt batch norm its convolution's output statistics on ``calib`` without changing the
    evaluation function (each batch norm is an identity plus shift while the statistics are gathered)."""
    stats: dict[int, tuple[torch.Tensor, torch.Tensor]] = {}

    def hook(conv: nn.Module, _inp: tuple, out: torch.Tensor) -> None:
        out = out.float()
        stats[id(conv)] = (out.mean((0, 2, 3)), out.var((0, 2, 3), unbiased=False))

    handles = [conv.register_forward_hook(hook) for conv, _ in pairs]
    model.eval()
    try:
        model(calib)
    finally:
        for h in handles:
            h.remove()
    for conv, bn in pairs:
        mean, var = stats[id(conv)]
        var = var.clamp(min=bn.eps * 2)
        bn.running_mean.copy_(mean)
        bn.running_var.copy_(var - bn.eps)
        bn.bias.add_(mean)
        bn.weight.copy_(var.sqrt())


def ort_logits(path: Path, x: np.ndarray, batch: int = 512) -> np.ndarray:
    """The logits of an `emolens export` graph (input named ``input``) on CPU, in batches."""
    import onnxruntime as ort

    s = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return np.concatenate([s.run(None, {"input": x[i : i + batch]})[0] for i in range(0, len(x), batch)])


def _check_parity(model: nn.Module, path: Path, calib: torch.Tensor) -> None:
    x = calib[:256].float().contiguous()
    want = ort_logits(path, x.numpy())
    model.eval()
    with torch.no_grad():
        got = model(x).numpy()
    diff = float(np.abs(got - want).max())
    if diff > PARITY_TOL * max(1.0, float(np.abs(want).max())):
        raise ConfigError(f"{path.name}: the rebuilt network differs from the graph by {diff:.2g}; not a start")
