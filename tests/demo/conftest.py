"""One generated registries directory shared by the demo and provider tests (read-only)."""

from __future__ import annotations

import atexit
import random
import shutil
import tempfile
from functools import cache
from pathlib import Path

import pytest

from onceonly.demo import ports
from onceonly.demo.cli import needed_ports
from onceonly.demo.ports import first_taken
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


def quiet_demo_port() -> int:
    """A ``--port`` whose derived ports are all free and stay free while the demo builds its
    data (:data:`onceonly.demo.ports.DEMO_BASE_PORTS`)."""
    for _ in range(100):
        port = random.randrange(ports.DEMO_BASE_PORTS.start, ports.DEMO_BASE_PORTS.stop)
        if first_taken(needed_ports("127.0.0.1", port)) is None:
            return port
    raise AssertionError("no --port with all its derived ports free")
