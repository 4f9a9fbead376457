"""Distillation's batch loss: the old all-rows formula, and rows left untaught keeping their own loss."""

from dataclasses import replace

import torch
import torch.nn.functional as F

from emolens.train.config import preset
from emolens.train.teachers import distilled


def _batch(n: int = 6) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(n, 7, generator=g)
    soft = F.softmax(torch.randn(n, 7, generator=g), 1)
    per_row = torch.rand(n, generator=g) + 0.5
    return per_row, logits, soft


def test_all_rows_taught_is_the_usual_mix_of_label_loss_and_kl():
    cfg = replace(preset("small-test"), distill_weight=0.3, distill_temperature=2.0)
    per_row, logits, soft = _batch()
    kd = F.kl_div(F.log_softmax(logits / 2.0, 1), soft, reduction="batchmean") * 4.0
    expected = 0.7 * per_row.mean() + 0.3 * kd
    assert torch.allclose(distilled(per_row, logits, soft, None, cfg), expected)


def test_untaught_rows_keep_their_own_loss_whole():
    cfg = replace(preset("small-test"), distill_weight=0.5, distill_rows="main")
    per_row, logits, soft = _batch()
    taught = torch.tensor([True, True, True, False, False, False])
    loss = distilled(per_row, logits, soft[taught], taught, cfg)
    kd = F.kl_div(F.log_softmax(logits[:3] / 4.0, 1), soft[:3], reduction="none").sum(1) * 16.0
    expected = torch.cat([0.5 * per_row[:3] + 0.5 * kd, per_row[3:]]).mean()
    assert torch.allclose(loss, expected)
    # A teacher that agrees with nobody moves only the taught rows' share of the loss.
    assert not torch.allclose(loss, per_row.mean())


def test_distill_rows_takes_only_its_two_values():
    import pytest

    with pytest.raises(TypeError, match="distill_rows"):
        replace(preset("small-test"), distill_rows="extra")
