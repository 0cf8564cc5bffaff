"""Shared test fixtures."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("WANDB_MODE", "offline")

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_FIXTURES = REPO_ROOT.parent / "shared" / "fixtures"


@pytest.fixture(scope="session")
def shared_fixtures() -> Path:
    """The real files in ../shared/fixtures (README there); skip where absent."""
    if not SHARED_FIXTURES.is_dir():
        pytest.skip(f"real fixtures not available: {SHARED_FIXTURES} is absent")
    return SHARED_FIXTURES
