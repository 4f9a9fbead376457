"""Batch augmentation on tensors: one affine warp per image, flips, photometric jitter, random erasing, MixUp/CutMix.

Working on whole batches keeps augmentation a small fraction of a training step on a CPU.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F


@dataclass(frozen=True)
class AugmentConfig:
    crop: int = 40  # output side; random crops of the (scaled, rotated, shifted) input
    flip: float = 0.5
    rotate_deg: float = 10.0
    scale: tuple[float, float] = (0.9, 1.1)
    shift: float = 0.04  # fraction of the side
    brightness: float = 0.25
    contrast: float = 0.25
    erase_p: float = 0.5
    erase_area: tuple[float, float] = (0.02, 0.2)
    mixup_alpha: float = 0.0
    cutmix_alpha: float = 0.0
    # What differs between sources (all off by default): lighting (a gamma curve, exp(U(-g, g)), and a linear
    # shading across the face), resolution (down- and back up-scaling to a random fraction of the side), JPEG
    # re-encoding at a random quality, sensor noise, and occlusion by a flat band over the lower face (a mask) or
    # over the eyes (glasses).
    gamma: float = 0.0
    shade: float = 0.0
    lowres_p: float = 0.0
    lowres_scale: tuple[float, float] = (0.3, 0.8)
    jpeg_p: float = 0.0
    jpeg_quality: tuple[int, int] = (15, 80)
    noise_std: float = 0.0
    occlude_p: float = 0.0


def augment(x: torch.Tensor, cfg: AugmentConfig, gen: torch.Generator) -> torch.Tensor:
    """Augment a float batch ``[N, 1, H, W]`` in [0, 1]; returns ``[N, 1, crop, crop]``."""
    n, _, h, _ = x.shape
    r = lambda *s: torch.rand(*s, generator=gen)  # noqa: E731
    angle = (r(n) * 2 - 1) * math.radians(cfg.rotate_deg)
    scale = cfg.scale[0] + r(n) * (cfg.scale[1] - cfg.scale[0])
    # The sampling grid covers crop/h of the input; a random shift places the crop anywhere it fits.
    frac = cfg.crop / h
    free = (1 - frac) + 2 * cfg.shift
    tx = (r(n) * 2 - 1) * free
    ty = (r(n) * 2 - 1) * free
    flip = torch.where(r(n) < cfg.flip, -1.0, 1.0)
    cos, sin = torch.cos(angle) * frac / scale, torch.sin(angle) * frac / scale
    theta = torch.stack([torch.stack([cos * flip, -sin, tx], 1), torch.stack([sin * flip, cos, ty], 1)], 1)
    grid = F.affine_grid(theta, [n, 1, cfg.crop, cfg.crop], align_corners=False)
    out = F.grid_sample(x, grid, mode="bilinear", padding_mode="reflection", align_corners=False)
    # Photometric jitter around each image's mean.
    mean = out.mean(dim=(1, 2, 3), keepdim=True)
    c = 1 + (r(n, 1, 1, 1) * 2 - 1) * cfg.contrast
    b = (r(n, 1, 1, 1) * 2 - 1) * cfg.brightness * 0.5
    out = ((out - mean) * c + mean + b).clamp(0, 1)
    out = source_shift(out, cfg, gen)
    if cfg.erase_p > 0:
        out = random_erase(out, cfg.erase_p, cfg.erase_area, gen)
    return out


def source_shift(x: torch.Tensor, cfg: AugmentConfig, gen: torch.Generator) -> torch.Tensor:
    """The photometric and occlusion changes between sources (see ``AugmentConfig``) on ``[N, 1, H, W]`` in [0, 1]."""
    n, _, h, w = x.shape
    r = lambda *s: torch.rand(*s, generator=gen)  # noqa: E731
    if cfg.gamma > 0:
        g = torch.exp((r(n, 1, 1, 1) * 2 - 1) * cfg.gamma)
        x = x.clamp_min(1e-4) ** g
    if cfg.shade > 0:
        angle = r(n) * 2 * math.pi
        ys = torch.linspace(-1, 1, h).view(1, h, 1)
        xs = torch.linspace(-1, 1, w).view(1, 1, w)
        ramp = torch.cos(angle).view(n, 1, 1) * xs + torch.sin(angle).view(n, 1, 1) * ys
        x = (x * (1 + (r(n, 1, 1) * cfg.shade) * ramp).unsqueeze(1)).clamp(0, 1)
    if cfg.lowres_p > 0:
        pick = (r(n) < cfg.lowres_p).nonzero().flatten()
        for i in pick.tolist():
            f = cfg.lowres_scale[0] + float(r(1)) * (cfg.lowres_scale[1] - cfg.lowres_scale[0])
            side = max(6, round(h * f))
            small = F.interpolate(x[i : i + 1], size=(side, side), mode="area")
            x[i : i + 1] = F.interpolate(small, size=(h, w), mode="bilinear", align_corners=False)
    if cfg.jpeg_p > 0:
        import cv2

        pick = (r(n) < cfg.jpeg_p).nonzero().flatten()
        lo, hi = cfg.jpeg_quality
        for i in pick.tolist():
            q = int(lo + float(r(1)) * (hi - lo))
            img = (x[i, 0] * 255).round().to(torch.uint8).numpy()
            ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, q])
            if ok:
                x[i, 0] = torch.from_numpy(cv2.imdecode(buf, cv2.IMREAD_GRAYSCALE)).float() / 255
    if cfg.noise_std > 0:
        x = (x + torch.randn(x.shape, generator=gen) * (r(n, 1, 1, 1) * cfg.noise_std)).clamp(0, 1)
    if cfg.occlude_p > 0:
        # A flat band: over the lower face from mouth to chin (a mask), or over both eyes (dark glasses).
        pick = r(n) < cfg.occlude_p
        mask_band = r(n) < 0.5
        top = torch.where(mask_band, 0.55 + r(n) * 0.1, 0.25 + r(n) * 0.08) * h
        bottom = torch.where(mask_band, torch.full((n,), float(h)), top + (0.15 + r(n) * 0.08) * h)
        ys = torch.arange(h).view(1, h, 1).float()
        band = (ys >= top.view(n, 1, 1)) & (ys < bottom.view(n, 1, 1)) & pick.view(n, 1, 1)
        band = band.expand(n, h, w).unsqueeze(1)
        x = torch.where(band, r(n, 1, 1, 1), x)
    return x


def random_erase(x: torch.Tensor, p: float, area: tuple[float, float], gen: torch.Generator) -> torch.Tensor:
    """Blank one random rectangle per selected image with uniform noise."""
    n, _, h, w = x.shape
    r = lambda *s: torch.rand(*s, generator=gen)  # noqa: E731
    a = (area[0] + r(n) * (area[1] - area[0])) * h * w
    aspect = torch.exp((r(n) * 2 - 1) * math.log(3))
    eh = (a * aspect).sqrt().clamp(1, h).long()
    ew = (a / aspect).sqrt().clamp(1, w).long()
    y0 = (r(n) * (h - eh + 1).float()).long()
    x0 = (r(n) * (w - ew + 1).float()).long()
    ys = torch.arange(h).view(1, h, 1)
    xs = torch.arange(w).view(1, 1, w)
    mask = (
        (ys >= y0.view(n, 1, 1))
        & (ys < (y0 + eh).view(n, 1, 1))
        & (xs >= x0.view(n, 1, 1))
        & (xs < (x0 + ew).view(n, 1, 1))
    )
    mask &= (r(n) < p).view(n, 1, 1)
    noise = r(n, 1, h, w)
    return torch.where(mask.unsqueeze(1), noise, x)


def mix(
    x: torch.Tensor, target: torch.Tensor, cfg: AugmentConfig, gen: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """MixUp or CutMix (chosen at random when both are on) on a batch with soft targets ``[N, C]``."""
    use = [a for a in (cfg.mixup_alpha, cfg.cutmix_alpha) if a > 0]
    if not use:
        return x, target
    perm = torch.randperm(x.shape[0], generator=gen)
    choose_cut = cfg.cutmix_alpha > 0 and (cfg.mixup_alpha <= 0 or torch.rand(1, generator=gen).item() < 0.5)
    alpha = cfg.cutmix_alpha if choose_cut else cfg.mixup_alpha
    # Drawn from ``gen`` (not torch's global generator), so a resumed run mixes as an uninterrupted one would.
    lam = float(np.random.default_rng(int(torch.randint(2**62, (1,), generator=gen))).beta(alpha, alpha))
    if choose_cut:
        h, w = x.shape[2:]
        ch, cw = int(h * math.sqrt(1 - lam)), int(w * math.sqrt(1 - lam))
        cy, cx = int(torch.randint(h, (1,), generator=gen)), int(torch.randint(w, (1,), generator=gen))
        y0, y1 = max(cy - ch // 2, 0), min(cy + ch // 2, h)
        x0, x1 = max(cx - cw // 2, 0), min(cx + cw // 2, w)
        x = x.clone()
        x[:, :, y0:y1, x0:x1] = x[perm, :, y0:y1, x0:x1]
        lam = 1 - (y1 - y0) * (x1 - x0) / (h * w)
    else:
        x = lam * x + (1 - lam) * x[perm]
    return x, lam * target + (1 - lam) * target[perm]
