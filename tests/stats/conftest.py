from tests.counter.conftest import demo_app, visit

__all__ = ["demo_app", "visit"]
