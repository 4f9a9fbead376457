"""MixUp and CutMix on a batch: targets mix in the same proportion as the pixels, and the draw follows the run's
generator, so a resumed run mixes as an uninterrupted one would."""

import pytest

torch = pytest.importorskip("torch")

from emolens.train.augment import AugmentConfig, mix  # noqa: E402


def _batch():
    # Image i is filled with the value i and labelled i, so every mixed pixel and label can be traced.
    x = torch.stack([torch.full((1, 40, 40), float(i)) for i in range(8)])
    return x, torch.eye(8)


def test_cutmix_targets_follow_the_pasted_area():
    x, y = _batch()
    for seed in range(20):
        mixed, target = mix(x, y, AugmentConfig(cutmix_alpha=1.0), torch.Generator().manual_seed(seed))
        assert torch.allclose(target.sum(1), torch.ones(8))
        for i in range(8):
            kept = float((mixed[i] == i).float().mean())
            assert float(target[i, i]) == pytest.approx(kept, abs=1e-6)
            others = set(mixed[i].unique().tolist()) - {float(i)}
            assert len(others) <= 1 and all(float(target[i, int(v)]) == pytest.approx(1 - kept) for v in others)


def test_mixup_blends_images_and_targets_alike():
    x, y = _batch()
    for seed in range(20):
        mixed, target = mix(x, y, AugmentConfig(mixup_alpha=0.4), torch.Generator().manual_seed(seed))
        assert torch.allclose(target.sum(1), torch.ones(8))
        for i in range(8):
            lam = float(target[i, i])
            assert torch.allclose(mixed[i], mixed[i, 0, 0, 0].expand_as(mixed[i]))  # a blend of two flat images
            if lam < 1 - 1e-6:
                j = round((float(mixed[i, 0, 0, 0]) - lam * i) / (1 - lam))
                assert float(target[i, j]) == pytest.approx(1 - lam, abs=1e-5)


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
