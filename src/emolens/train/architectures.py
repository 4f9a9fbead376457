"""Network architectures for facial-expression classification.

Every architecture takes a batch of grey faces ``[N, 1, S, S]`` (float, normalised as the manifest says)
and returns logits ``[N, num_classes]``. They are registered by name so a config can pick one.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from torch import nn

ARCHITECTURES: dict[str, Callable[..., nn.Module]] = {}
#: Architectures that start from shipped weights, and where those weights come from (recorded in the manifests
#: of models trained from them). They take ``pretrained``, and the input ``mean`` and ``std``, as arguments.
PRETRAINED: dict[str, str] = {
    "sface": "the shipped face-recognition model sface.onnx (OpenCV Zoo SFace, Apache-2.0; LICENSES/sface.txt): "
    "its convolutional layers, the first folded to one grey channel",
}


def register(name: str) -> Callable[[Callable[..., nn.Module]], Callable[..., nn.Module]]:
    def wrap(factory: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
        ARCHITECTURES[name] = factory
        return factory

    return wrap


def build(name: str, num_classes: int, **kwargs: object) -> nn.Module:
    """Build a registered architecture by name."""
    if name not in ARCHITECTURES:
        known = ", ".join(sorted(ARCHITECTURES))
        raise KeyError(f"unknown architecture {name!r}; known: {known}")
    return ARCHITECTURES[name](num_classes=num_classes, **kwargs)


def _conv_bn(cin: int, cout: int, stride: int = 1, groups: int = 1, act: bool = True) -> nn.Sequential:
    layers: list[nn.Module] = [
        nn.Conv2d(cin, cout, 3, stride, 1, groups=groups, bias=False),
        nn.BatchNorm2d(cout),
    ]
    if act:
        layers.append(nn.ReLU(inplace=True))
    return nn.Sequential(*layers)


class BasicBlock(nn.Module):
    """ResNet basic block (two 3x3 convolutions) with a projection shortcut when the shape changes."""

    def __init__(self, cin: int, cout: int, stride: int) -> None:
        super().__init__()
        self.body = nn.Sequential(_conv_bn(cin, cout, stride), _conv_bn(cout, cout, act=False))
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or cin != cout:
            self.shortcut = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))
        self.act = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.body(x) + self.shortcut(x))


class ResNetFER(nn.Module):
    """A ResNet for small grey faces: a light stem, four stages of basic blocks, global pooling."""

    def __init__(
        self,
        num_classes: int,
        widths: tuple[int, ...] = (48, 96, 192, 384),
        depths: tuple[int, ...] = (2, 2, 2, 2),
        stem_stride: int = 1,
        dropout: float = 0.3,
    ) -> None:
        super().__init__()
        self.stem = nn.Sequential(_conv_bn(1, widths[0] // 2), _conv_bn(widths[0] // 2, widths[0], stem_stride))
        stages: list[nn.Module] = []
        cin = widths[0]
        for i, (w, d) in enumerate(zip(widths, depths, strict=True)):
            for j in range(d):
                stride = 2 if (j == 0 and i > 0) else 1
                stages.append(BasicBlock(cin, w, stride))
                cin = w
        self.stages = nn.Sequential(*stages)
        self.head = nn.Sequential(
            nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(dropout), nn.Linear(cin, num_classes)
        )
        _init(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.stages(self.stem(x)))


class SimpleCNN(nn.Module):
    """The classic FER2013 baseline: VGG-style conv blocks, max pooling and a dense head.

    ``widths`` gives each stage's two convolutions their output channels; ``conv_widths`` (two entries a stage),
    when given, sets each convolution's own instead (what pruning that is not uniform across layers leaves)."""

    def __init__(
        self,
        num_classes: int,
        widths: tuple[int, ...] = (32, 64, 128, 256),
        dropout: float = 0.4,
        conv_widths: tuple[int, ...] | None = None,
    ) -> None:
        super().__init__()
        if conv_widths is None:
            conv_widths = tuple(w for w in widths for _ in (0, 1))
        if len(conv_widths) % 2:
            raise ValueError(f"conv_widths needs two entries a stage, got {len(conv_widths)}")
        layers: list[nn.Module] = []
        cin = 1
        for a, b in zip(conv_widths[::2], conv_widths[1::2], strict=True):
            layers += [_conv_bn(cin, a), _conv_bn(a, b), nn.MaxPool2d(2)]
            cin = b
        self.features = nn.Sequential(*layers)
        self.head = nn.Sequential(
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
            nn.Dropout(dropout),
            nn.Linear(cin, 256),
            nn.ReLU(inplace=True),
            nn.Dropout(dropout),
            nn.Linear(256, num_classes),
        )
        _init(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


def widen_cnn(model: SimpleCNN, widths: tuple[int, ...], seed: int = 0) -> SimpleCNN:
    """A wider copy of a trained ``SimpleCNN`` that computes the same function (Net2WiderNet).

    Each new channel of a convolution copies an existing one (its filter and batch-norm terms), chosen at
    random. The next layer's weights from a channel and its copies are split in random shares that sum to
    one, so the sum it computes is unchanged while the copies are no longer symmetric and training can pull
    them apart. In eval mode the wide network's outputs equal the narrow one's up to float rounding.
    """
    convs = [i for i, m in enumerate(model.features) if isinstance(m, nn.Sequential)]  # conv-BN-ReLU blocks
    old = [model.features[i][0].out_channels for i in convs]
    if len(widths) != len(old) // 2 or any(w < o for w, o in zip(widths, old[::2], strict=False)):
        raise ValueError(f"widths {tuple(widths)} must have {len(old) // 2} entries, none below {tuple(old[::2])}")
    wide = SimpleCNN(model.head[-1].out_features, tuple(widths), model.head[2].p)
    rng = np.random.default_rng(seed)
    src, dst = model.state_dict(), wide.state_dict()
    take, share = np.zeros(1, dtype=np.int64), torch.ones(1)  # what feeds the next layer (grey input: one channel)
    for i, o, n in zip(convs, old, [w for w in widths for _ in (0, 1)], strict=True):
        mapping = np.concatenate([np.arange(o), rng.integers(0, o, n - o)])
        conv, bn = f"features.{i}.0", f"features.{i}.1"
        dst[f"{conv}.weight"] = src[f"{conv}.weight"][mapping][:, take] * share[None, :, None, None]
        for part in ("weight", "bias", "running_mean", "running_var"):
            dst[f"{bn}.{part}"] = src[f"{bn}.{part}"][mapping]
        dst[f"{bn}.num_batches_tracked"] = src[f"{bn}.num_batches_tracked"]
        take, share = mapping, _shares(mapping, rng)
    dst["head.3.weight"] = src["head.3.weight"][:, take] * share[None]
    for key in ("head.3.bias", "head.6.weight", "head.6.bias"):
        dst[key] = src[key]
    wide.load_state_dict(dst)
    return wide


def _shares(mapping: np.ndarray, rng: np.random.Generator) -> torch.Tensor:
    """For each channel, its share of the original it copies: 1 alone, random shares summing to 1 over copies."""
    share = np.ones(len(mapping))
    for c in np.unique(mapping):
        idx = np.flatnonzero(mapping == c)
        if len(idx) > 1:
            share[idx] = rng.dirichlet(np.full(len(idx), 4.0))
    return torch.as_tensor(share, dtype=torch.float32)


class InvertedResidual(nn.Module):
    """MobileNetV2 block: 1x1 expand, 3x3 depthwise, 1x1 project, residual when shapes match."""

    def __init__(self, cin: int, cout: int, stride: int, expand: int) -> None:
        super().__init__()
        hidden = cin * expand
        self.use_res = stride == 1 and cin == cout
        self.body = nn.Sequential(
            nn.Conv2d(cin, hidden, 1, bias=False),
            nn.BatchNorm2d(hidden),
            nn.ReLU6(inplace=True),
            nn.Conv2d(hidden, hidden, 3, stride, 1, groups=hidden, bias=False),
            nn.BatchNorm2d(hidden),
            nn.ReLU6(inplace=True),
            nn.Conv2d(hidden, cout, 1, bias=False),
            nn.BatchNorm2d(cout),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.body(x)
        return x + y if self.use_res else y


class MobileFER(nn.Module):
    """A depthwise-separable (MobileNetV2 / MobileFaceNet style) network for small grey faces."""

    def __init__(self, num_classes: int, width: float = 1.0, dropout: float = 0.2) -> None:
        super().__init__()
        cfg = [(1, 16, 1, 1), (4, 24, 2, 2), (4, 48, 3, 2), (4, 96, 3, 2), (4, 160, 2, 1)]

        def c(n: int) -> int:
            return max(8, round(n * width / 8) * 8)

        layers: list[nn.Module] = [_conv_bn(1, c(32))]
        cin = c(32)
        for expand, cout, n, stride in cfg:
            for i in range(n):
                layers.append(InvertedResidual(cin, c(cout), stride if i == 0 else 1, expand))
                cin = c(cout)
        last = c(512)
        layers += [nn.Conv2d(cin, last, 1, bias=False), nn.BatchNorm2d(last), nn.ReLU6(inplace=True)]
        self.features = nn.Sequential(*layers)
        self.head = nn.Sequential(
            nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(dropout), nn.Linear(last, num_classes)
        )
        _init(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


def _init(model: nn.Module) -> None:
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Linear):
            nn.init.normal_(m.weight, 0, 0.01)
            nn.init.zeros_(m.bias)
    # Zero the last BN of each residual branch so blocks start as identities (helps short schedules).
    for m in model.modules():
        if isinstance(m, BasicBlock):
            nn.init.zeros_(m.body[1][1].weight)


@register("cnn")
def _cnn(num_classes: int, **kw: object) -> nn.Module:
    return SimpleCNN(num_classes, **kw)  # type: ignore[arg-type]


@register("resnet")
def _resnet(num_classes: int, **kw: object) -> nn.Module:
    return ResNetFER(num_classes, **kw)  # type: ignore[arg-type]


@register("resnet-s")
def _resnet_small(num_classes: int, **kw: object) -> nn.Module:
    return ResNetFER(num_classes, widths=(32, 64, 128, 256), **kw)  # type: ignore[arg-type]


@register("mobile")
def _mobile(num_classes: int, **kw: object) -> nn.Module:
    return MobileFER(num_classes, **kw)  # type: ignore[arg-type]


class SFaceFER(nn.Module):
    """The shipped face-recognition network (SFace, a MobileNet-style stack of depthwise-separable blocks with
    PReLU) turned into an expression classifier: its convolutional layers, optionally started from the
    recognition weights in ``sface.onnx``, then global pooling and a new linear head.

    Grey faces are upsampled by ``scale`` (the recognition net saw 112-pixel faces; FER crops are 40-48), and the
    RGB first layer is folded to one channel, which is exact for grey input. A face-recognition start is the
    usual way to reach good expression accuracy from little data; the recognition head (the 7x7 depthwise and the
    embedding layer) is not used, as it is trained to ignore expression.
    """

    # (out channels, stride, depthwise first) for conv_1 .. conv_14 of SFace.
    LAYOUT: tuple[tuple[int, int, bool], ...] = (
        (32, 1, False),
        (64, 1, True),
        (128, 2, True),
        (128, 1, True),
        (256, 2, True),
        (256, 1, True),
        (512, 2, True),
        (512, 1, True),
        (512, 1, True),
        (512, 1, True),
        (512, 1, True),
        (512, 1, True),
        (1024, 2, True),
        (1024, 1, True),
    )

    def __init__(
        self,
        num_classes: int,
        scale: float = 1.0,
        dropout: float = 0.3,
        pretrained: bool = True,
        mean: float = 0.5,
        std: float = 0.25,
    ) -> None:
        super().__init__()
        self.scale = float(scale)
        layers: list[nn.Module] = []
        self.names: list[str] = []
        cin = 1
        for i, (cout, stride, dw) in enumerate(self.LAYOUT, start=1):
            if dw:
                layers.append(_conv_bn_prelu(cin, cin, 3, stride, groups=cin))
                self.names.append(f"conv_{i}_dw")
            layers.append(_conv_bn_prelu(cin, cout, 1 if dw else 3, 1 if dw else stride))
            self.names.append(f"conv_{i}")
            cin = cout
        self.features = nn.Sequential(*layers)
        self.head = nn.Sequential(
            nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(dropout), nn.Linear(cin, num_classes)
        )
        _init(self)
        if pretrained:
            # Our inputs are (p - mean) / std for pixels p in [0, 1]; SFace's are (255 p - 127.5) / 128.
            load_sface_weights(self, input_gain=std * 255.0 / 128.0, input_shift=(mean - 0.5) * 255.0 / 128.0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.scale != 1.0:
            x = nn.functional.interpolate(x, scale_factor=self.scale, mode="bilinear", align_corners=False)
        return self.head(self.features(x))


def _conv_bn_prelu(cin: int, cout: int, k: int, stride: int, groups: int = 1) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, k, stride, k // 2, groups=groups, bias=False),
        nn.BatchNorm2d(cout, eps=1e-3),
        nn.PReLU(cout),
    )


def sface_tensors() -> dict[str, np.ndarray]:
    """The float weights of ``sface.onnx`` by layer name (its conv weights are stored block-quantised, so the
    graph is run once with the dequantised tensors as extra outputs)."""
    import onnx
    import onnxruntime as ort
    from onnx import numpy_helper

    from emolens.registry import models_dir

    model = onnx.load(str(models_dir() / "sface.onnx"))
    graph = model.graph
    tensors = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
    wanted = [n.output[0] for n in graph.node if n.op_type == "Reshape" and n.output[0].endswith("_weight_reshaped")]
    del graph.output[:]
    for name in wanted:
        graph.output.append(onnx.helper.make_tensor_value_info(name, onnx.TensorProto.FLOAT, None))
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    values = sess.run(wanted, {sess.get_inputs()[0].name: np.zeros((1, 3, 112, 112), np.float32)})
    for name, value in zip(wanted, values, strict=True):
        tensors[name.removesuffix("_weight_reshaped") + "_weight"] = value
    return tensors


def load_sface_weights(model: SFaceFER, input_gain: float = 1.0, input_shift: float = 0.0) -> None:
    """Copy SFace's recognition weights into ``model``'s convolutional layers. SFace sees
    ``input_gain * x + input_shift`` when ``model`` is given ``x``."""

    t = sface_tensors()
    for name, block in zip(model.names, model.features, strict=True):
        conv, bn, act = block
        w = t[f"{name}_conv2d_weight"]
        if name == "conv_1":
            # Grey input: R = G = B, so the RGB kernel sums to one channel; fold the input rescaling in too.
            bias = w.sum(axis=(1, 2, 3)) * input_shift  # a constant offset, taken up by the BN mean
            w = w.sum(axis=1, keepdims=True) * input_gain
            mean = t[f"{name}_batchnorm_moving_mean"] - bias
        else:
            mean = t[f"{name}_batchnorm_moving_mean"]
        conv.weight.data.copy_(torch.from_numpy(np.ascontiguousarray(w, dtype=np.float32)))
        bn.weight.data.copy_(torch.from_numpy(t[f"{name}_batchnorm_gamma"]))
        bn.bias.data.copy_(torch.from_numpy(t[f"{name}_batchnorm_beta"]))
        bn.running_mean.copy_(torch.from_numpy(np.asarray(mean, np.float32)))
        bn.running_var.copy_(torch.from_numpy(t[f"{name}_batchnorm_moving_var"]))
        act.weight.data.copy_(torch.from_numpy(t[f"{name}_relu_gamma"].reshape(-1)))


@register("sface")
def _sface(num_classes: int, **kw: object) -> nn.Module:
    return SFaceFER(num_classes, **kw)  # type: ignore[arg-type]
