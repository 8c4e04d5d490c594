"""The page fixtures of the counter's tests: the prepared demo behind a TestClient."""

from tests.counter.conftest import demo_app, visit

__all__ = ["demo_app", "visit"]
