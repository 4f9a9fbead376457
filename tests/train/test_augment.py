"""MixUp and CutMix on a batch: targets mix in the same proportion as the pixels, and the draw follows the run's
generator, so a resumed run mixes as an uninterrupted one would."""

import pytest

torch = pytest.importorskip("torch")

from emolens.train.augment import AugmentConfig, mix  # noqa: E402


def _batch():
    # Image i is filled with the value i and labelled i, so every mixed pixel and label can be traced.
    x = torch.stack([torch.full((1, 40, 40), float(i)) for i in range(8)])
    return x, torch.eye(8)


def _mixed_rows(cfg, seeds=20):
    """(row index, mixed image, its target) over batches mixed with ``seeds`` generator seeds."""
    x, y = _batch()
    for seed in range(seeds):
        mixed, target = mix(x, y, cfg, torch.Generator().manual_seed(seed))
        assert torch.allclose(target.sum(1), torch.ones(8))
        yield from ((i, mixed[i], target[i]) for i in range(8))


def test_cutmix_targets_follow_the_pasted_area():
    for i, image, target in _mixed_rows(AugmentConfig(cutmix_alpha=1.0)):
        kept = float((image == i).float().mean())
        assert float(target[i]) == pytest.approx(kept, abs=1e-6)
        others = set(image.unique().tolist()) - {float(i)}
        assert len(others) <= 1 and all(float(target[int(v)]) == pytest.approx(1 - kept) for v in others)


def test_mixup_blends_images_and_targets_alike():
    for i, image, target in _mixed_rows(AugmentConfig(mixup_alpha=0.4)):
        lam = float(target[i])
        assert torch.allclose(image, image[0, 0, 0].expand_as(image))  # a blend of two flat images
        if lam < 1 - 1e-6:
            j = round((float(image[0, 0, 0]) - lam * i) / (1 - lam))
            assert float(target[j]) == pytest.approx(1 - lam, abs=1e-5)


def test_the_draw_depends_only_on_the_run_generator():
    x, y = _batch()
    cfg = AugmentConfig(mixup_alpha=0.4, cutmix_alpha=1.0)
    gen = torch.Generator().manual_seed(7)
    state = gen.get_state()
    first = [mix(x, y, cfg, gen) for _ in range(5)]
    torch.manual_seed(123)  # the global generator must not matter
    gen.set_state(state)
    again = [mix(x, y, cfg, gen) for _ in range(5)]
    for (a, ta), (b, tb) in zip(first, again, strict=True):
        assert torch.equal(a, b) and torch.equal(ta, tb)
    assert not all(torch.equal(first[0][1], t) for _, t in first[1:])


def test_no_mixing_when_both_are_off():
    x, y = _batch()
    mixed, target = mix(x, y, AugmentConfig(), torch.Generator().manual_seed(0))
    assert mixed is x and target is y
