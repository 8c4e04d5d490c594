"""Routes: the exchange's one way to owners not answered by a connector here."""

from __future__ import annotations

from typing import Any

from onceonly.config import Settings
from onceonly.exchange.fanout import Routes, connect_all


class Fake:
    def __init__(self, name: str, owners: set[str], holders: dict[str, list[str]]) -> None:
        self.name, self.owners, self.holders, self.closed = name, owners, holders, False

    def is_remote(self, owner: str) -> bool:
        return owner in self.owners

    def holders_elsewhere(self, dataset: str) -> dict[str, list[str]]:
        return self.holders

    def peer_keys(self) -> list[dict[str, Any]]:
        return [{"kid": self.name}]

    def forward(self, owner: str, **asked: Any) -> Any:
        return (self.name, owner)

    def close(self) -> None:
        self.closed = True


def test_each_owner_goes_to_the_first_route_serving_it() -> None:
    gateways = Fake("gateways", {"central.fia"}, {})
    nodes = Fake("nodes", {"central.fia", "yilan-county.land_office"}, {"yilan": ["x"]})
    routes = Routes([gateways, nodes])
    assert routes.forward("central.fia") == ("gateways", "central.fia")
    assert routes.forward("yilan-county.land_office") == ("nodes", "yilan-county.land_office")
    assert not routes.is_remote("taipei-city.land_office")
    assert routes.holders_elsewhere("land") == {"yilan": ["x"]}
    assert [k["kid"] for k in routes.peer_keys()] == ["gateways", "nodes"]
    routes.close()
    assert gateways.closed and nodes.closed


def test_connect_all_keeps_only_what_is_configured(tmp_path: Any) -> None:
    settings = Settings(data_dir=tmp_path)
    one = Fake("one", {"a.b"}, {})
    assert connect_all(lambda s, o: None, lambda s, o: None)(settings, set()) is None
    assert connect_all(lambda s, o: None, lambda s, o: one)(settings, set()) is one
    both = connect_all(lambda s, o: one, lambda s, o: one)(settings, set())
    assert isinstance(both, Routes)
