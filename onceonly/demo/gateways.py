"""Owners behind their own gateway processes, for the demo and the gateway bench: one CA, the
platform's node certificate, and per owner its store and connector moved out of the
platform's data directory into the gateway's, its rules carried over, its keys handed over.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import yaml

from onceonly.config import Settings
from onceonly.connectors import SUFFIX
from onceonly.db import make_engine, make_session_factory, transaction
from onceonly.exchange import keys
from onceonly.gateway.links import GatewayLink, GatewayLinks
from onceonly.gateway.setup import export_rules, import_rules, prepare_gateway
from onceonly.pki import ca

PLATFORM = "platform"
DEMO_OWNERS = ("central.fia", "central.vac")
"""The demo's owners with their own gateway (財政資訊中心, 國軍退除役官兵輔導委員會)."""
GATEWAY_PORT_OFFSET = 11
"""The demo's gateways listen on ``--port`` + 11, + 12, ..."""


def demo_ports(port: int) -> dict[str, int]:
    return {owner: port + GATEWAY_PORT_OFFSET + i for i, owner in enumerate(DEMO_OWNERS)}


@dataclass(frozen=True)
class GatewayPlan:
    owner: str
    id: str
    port: int
    data_dir: Path
    connector: Path
    tls: Path
    ca: Path
    crl: Path

    def command(self) -> list[str]:
        return [
            sys.executable, "-m", "onceonly.cli", "gateway", "serve",
            "--connector", str(self.connector), "--id", self.id, "--platform", PLATFORM,
            "--cert", str(self.tls / f"{self.id}.pem"), "--key", str(self.tls / f"{self.id}.key"),
            "--ca", str(self.ca), "--crl", str(self.crl),
            "--data-dir", str(self.data_dir), "--port", str(self.port),
        ]  # fmt: skip


def _move_store(platform: Settings, owner: str, target: Path) -> Path:
    """The owner's connector and SQLite store leave the platform; the connector path."""
    source = platform.registries_dir / f"{owner}{SUFFIX}"
    data = yaml.safe_load(source.read_text("utf-8"))
    store = Path(data["source"]["url"].removeprefix("sqlite:///"))
    store = store if store.is_absolute() else source.parent / store
    moved = target / store.name
    shutil.move(store, moved)
    data["source"]["url"] = f"sqlite:///{moved}"
    connector = target / f"{owner}{SUFFIX}"
    connector.write_text(yaml.safe_dump(data, allow_unicode=True), "utf-8")
    source.unlink()
    return connector


def move_to_gateways(platform: Settings, root: Path, owners: dict[str, int]) -> list[GatewayPlan]:
    """``owners`` (owner -> port) each behind a gateway under ``root``; idempotent: owners
    already moved are planned again from what is on disk."""
    ca_dir = root / "ca"
    if not (ca_dir / "ca.pem").exists():
        ca.init_ca(ca_dir)
        ca.issue_node(ca_dir, PLATFORM, root / "platform-tls")
    crl = root / "crl.pem"
    crl.write_bytes(ca.current_crl(ca_dir))
    engine = make_engine(platform.resolved_database_url)
    sessions = make_session_factory(engine)
    plans: list[GatewayPlan] = []
    links: list[GatewayLink] = []
    try:
        for owner, port in owners.items():
            gateway_id = "gw-" + owner.replace(".", "-").replace("_", "-")
            gw = Settings(data_dir=root / gateway_id)
            gw.ensure_dirs()
            tls = root / f"{gateway_id}-tls"
            connector = gw.data_dir / f"{owner}{SUFFIX}"
            if not connector.exists():
                ca.issue_node(ca_dir, gateway_id, tls)
                connector = _move_store(platform, owner, gw.data_dir)
                jwks = prepare_gateway(gw, [owner])
                gw_engine = make_engine(gw.resolved_database_url)
                with transaction(sessions) as session:
                    rules = export_rules(session, owner)
                    keys.hand_over(session, platform, owner, jwks["keys"])
                with transaction(make_session_factory(gw_engine)) as session:
                    import_rules(session, rules, [owner])
                gw_engine.dispose()
            else:  # a later run: the demo's preparation may have written the node's file again
                (platform.registries_dir / f"{owner}{SUFFIX}").unlink(missing_ok=True)
                jwks = prepare_gateway(gw, [owner])
            plans.append(GatewayPlan(owner, gateway_id, port, gw.data_dir, connector, tls,
                                     ca_dir / "ca.pem", crl))  # fmt: skip
            links.append(GatewayLink(gateway_id, f"https://127.0.0.1:{port}", (owner,), jwks))
    finally:
        engine.dispose()
    GatewayLinks(
        node=PLATFORM,
        cert=str(root / "platform-tls" / f"{PLATFORM}.pem"),
        key=str(root / "platform-tls" / f"{PLATFORM}.key"),
        ca=str(ca_dir / "ca.pem"),
        crl=str(crl),
        gateways=tuple(links),
    ).write(platform)
    return plans


def start(plan: GatewayPlan, log: Path, timeout: float = 60.0) -> subprocess.Popen[bytes]:
    """The gateway process, once its port listens (stopped again if it never does)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ONCEONLY_")}
    with log.open("ab") as out:
        process = subprocess.Popen(plan.command(), env=env, stdout=out, stderr=out)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"gateway {plan.id} exited: see {log}")
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", plan.port)) == 0:
                return process
        time.sleep(0.1)
    process.terminate()
    process.wait(10)
    raise RuntimeError(f"gateway {plan.id} did not come up in {timeout} s")


def addresses(plans: list[GatewayPlan]) -> dict[str, str]:
    """Where each owner's gateway listens, by the owner's agency code."""
    return {p.owner: f"https://127.0.0.1:{p.port}" for p in plans}
