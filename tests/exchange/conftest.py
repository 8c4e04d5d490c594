"""The ``counter`` fixture every evidence test file uses."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.conftest import DemoEnv
from tests.exchange.support import Counter, running_counter


@pytest.fixture
def counter(demo_env: DemoEnv) -> Iterator[Counter]:
    with running_counter(demo_env) as result:
        yield result
