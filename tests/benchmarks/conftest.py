"""The learning benchmark's scripts, loaded as modules (benchmarks/ is not a package)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"


def load_learning() -> ModuleType:
    """benchmarks/learning.py, registered as ``learning_benchmark``."""
    name = "learning_benchmark"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, BENCHMARKS / "learning.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


@pytest.fixture(scope="session")
def learning() -> ModuleType:
    return load_learning()


@pytest.fixture(scope="session")
def styles(learning) -> ModuleType:
    return learning.load_styles()
