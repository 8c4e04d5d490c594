from tests.demo.conftest import shared_registries

__all__ = ["shared_registries"]
