"""Shared test fixtures. Real data comes from ``$EMOLENS_DATA`` or ``<repo root>/../shared/datasets``."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import settings

# Timing-free property tests: this 2-core machine is shared and noisy, so no per-example deadline.
settings.register_profile("emolens", deadline=None)
settings.load_profile("emolens")

REPO_ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """The shared datasets folder; the test fails (not skips) when it is absent."""
    env = os.environ.get("EMOLENS_DATA")
    path = Path(env) if env else REPO_ROOT.parent / "shared" / "datasets"
    if not path.is_dir():
        where = f"EMOLENS_DATA={env}" if env else f"{path} (set EMOLENS_DATA to override)"
        pytest.fail(f"test data folder not found: {where}", pytrace=False)
    return path
