"""One generated registries directory shared by the demo and provider tests (read-only)."""

from __future__ import annotations

import atexit
import shutil
import tempfile
from functools import cache
from pathlib import Path

import pytest

from onceonly.demo.registries import RegistryManifest, generate_registries

SHARED_PEOPLE = 10_000
SHARED_SEED = 20101225


@cache
def _generate_once() -> tuple[Path, RegistryManifest]:
    """Made once per test process, whichever test directory asks first."""
    directory = Path(tempfile.mkdtemp(prefix="onceonly-registries-"))
    atexit.register(shutil.rmtree, directory, ignore_errors=True)
    return directory, generate_registries(directory, people=SHARED_PEOPLE, seed=SHARED_SEED)


@pytest.fixture(scope="session")
def shared_registries() -> tuple[Path, RegistryManifest]:
    """10,000 people with the default seed; tests must not modify these stores."""
    return _generate_once()
