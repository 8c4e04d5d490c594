"""Building and running a federation on one machine: the CA, the directory and several nodes,
each with its own data directory and only its own jurisdictions' registries.

Central datasets (household registration, income, veterans) are replicated read-only to every
node, as every city already reaches the national systems through the 電子閘門; each node signs
what it answers from its replica with its own key. Local datasets live only on the node that
serves their jurisdiction, so a question about a citizen registered elsewhere must cross.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import httpx

from onceonly import migrations
from onceonly.accounts.demo_accounts import seed_demo_accounts
from onceonly.catalog import service as catalog
from onceonly.catalog.loader import load_catalog
from onceonly.config import Settings
from onceonly.connectors import SUFFIX as CONNECTOR_SUFFIX
from onceonly.db import make_engine, make_session_factory, transaction
from onceonly.demo.mail_sink import mail_sink_port
from onceonly.demo.ports import free_port
from onceonly.demo.registries import DEMO_JURISDICTIONS, generate_registries
from onceonly.demo.registries.manifest import MANIFEST_NAME, RegistryManifest
from onceonly.demo.rules import seed_demo_rules
from onceonly.exchange import keys
from onceonly.federation.directory import Directory
from onceonly.federation.node import NodeConfig, federation_dir, registration
from onceonly.federation.witnessing import configure_witnesses
from onceonly.notify.demo import seed_demo_notify
from onceonly.outbound import OutboundPolicy
from onceonly.pki import ca
from onceonly.policy.service import RuleRequest, approve_rule, request_rule
from onceonly.providers.registry import load_providers

LOOPBACK_DEMO = OutboundPolicy.from_env(extra=["127.0.0.1"])
"""The demo federation runs every node on 127.0.0.1."""


@dataclass(frozen=True)
class NodePlan:
    id: str
    name: str
    jurisdictions: tuple[str, ...]


DEMO_NODES: tuple[NodePlan, ...] = (
    NodePlan("taipei", "臺北市節點", ("taipei-city",)),
    NodePlan("new-taipei", "新北市節點", ("new-taipei-city",)),
    NodePlan(
        "north-regional", "北北基宜區域節點（基隆市、宜蘭縣）", ("keelung-city", "yilan-county")
    ),
)


@dataclass(frozen=True)
class NodeLayout:
    plan: NodePlan
    data_dir: Path
    port: int
    peer_port: int
    cert_serial: str

    @property
    def settings(self) -> Settings:
        return Settings(data_dir=self.data_dir)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


NODE_PORT_STEP = 10
"""``onceonly demo --federated --port P``: node i serves its web app on P + 10 i, its peer
listener on P + 10 i + 1 and its mail sink on P + 10 i + 9 (as ``onceonly demo`` puts its
sink at ``--port`` + 9); the directory listens on P + 10 n (n nodes)."""


@dataclass(frozen=True)
class FederationPorts:
    """Every port a demo federation listens on, derived from one ``--port``."""

    directory: int
    nodes: tuple[tuple[int, int], ...]
    """(web, peer) per node, in the order of the plans."""
    mail: tuple[int, ...] = ()
    """Each node's mail sink (the demo's; none when the ports were picked free)."""

    @classmethod
    def derive(cls, port: int, node_count: int = len(DEMO_NODES)) -> FederationPorts:
        nodes = tuple(
            (port + NODE_PORT_STEP * i, port + NODE_PORT_STEP * i + 1) for i in range(node_count)
        )
        mail = tuple(mail_sink_port(web) for web, _ in nodes)
        return cls(port + NODE_PORT_STEP * node_count, nodes, mail)

    @classmethod
    def free(cls, node_count: int) -> FederationPorts:
        """Ports the system picks (tests and benches: many federations on one machine)."""
        return cls(free_port(), tuple((free_port(), free_port()) for _ in range(node_count)))

    def all(self) -> list[int]:
        return [port for pair in self.nodes for port in pair] + [self.directory, *self.mail]


class PortsChanged(ValueError):
    """A federation built for other ports: its certificates and registrations name them."""

    def __init__(self, root: Path, built: int, asked: int) -> None:
        super().__init__(f"{root} was built for --port {built}, not {asked}")
        self.root, self.built, self.asked = root, built, asked


@dataclass(frozen=True)
class FederationLayout:
    root: Path
    ca_dir: Path
    directory_home: Path
    directory_port: int
    nodes: tuple[NodeLayout, ...]
    base_port: int | None = None
    """The ``--port`` the ports were derived from; ``None``: picked free."""

    @property
    def directory_url(self) -> str:
        return f"http://127.0.0.1:{self.directory_port}"

    def node(self, node_id: str) -> NodeLayout:
        return next(n for n in self.nodes if n.plan.id == node_id)

    def write(self) -> None:
        document = {
            "ca_dir": str(self.ca_dir),
            "directory_home": str(self.directory_home),
            "directory_port": self.directory_port,
            "base_port": self.base_port,
            "nodes": [
                {
                    "id": n.plan.id,
                    "name": n.plan.name,
                    "jurisdictions": list(n.plan.jurisdictions),
                    "data_dir": str(n.data_dir),
                    "port": n.port,
                    "peer_port": n.peer_port,
                    "cert_serial": n.cert_serial,
                }
                for n in self.nodes
            ],
        }
        (self.root / "federation.json").write_text(
            json.dumps(document, ensure_ascii=False, indent=2)
        )

    @classmethod
    def read(cls, root: Path) -> FederationLayout:
        data = json.loads((Path(root) / "federation.json").read_text())
        return cls(
            root=Path(root),
            ca_dir=Path(data["ca_dir"]),
            directory_home=Path(data["directory_home"]),
            directory_port=data["directory_port"],
            nodes=tuple(
                NodeLayout(
                    NodePlan(n["id"], n["name"], tuple(n["jurisdictions"])),
                    Path(n["data_dir"]),
                    n["port"],
                    n["peer_port"],
                    n["cert_serial"],
                )
                for n in data["nodes"]
            ),
            base_port=data.get("base_port"),
        )


def copy_registries(source: Path, target: Path, jurisdictions: Sequence[str]) -> RegistryManifest:
    """The central stores and the stores of ``jurisdictions`` only, each with its connector
    file, and a manifest to match."""
    manifest = RegistryManifest.read(source)
    keep = tuple(
        s for s in manifest.stores if s.jurisdiction is None or s.jurisdiction in jurisdictions
    )
    target.mkdir(parents=True, exist_ok=True)
    for store in keep:
        shutil.copy2(store.resolve(source), target / store.path)
        connector = f"{store.owner}{CONNECTOR_SUFFIX}"
        shutil.copy2(source / connector, target / connector)
    data = json.loads(manifest.to_json())
    data["stores"] = [s for s in data["stores"] if s["owner"] in {k.owner for k in keep}]
    data["jurisdictions"] = list(jurisdictions)
    (target / MANIFEST_NAME).write_text(json.dumps(data, ensure_ascii=False, indent=2))
    return RegistryManifest.read(target)


def approve_cross_node_rules(
    session: object, requesting: Sequence[str], hosted: Sequence[str]
) -> int:
    """Rules the owners of ``hosted`` jurisdictions approve for agencies of ``requesting``
    jurisdictions: the evidence each item offered there needs about a citizen living here, and
    the land and building records (searched in every jurisdiction) of the land offices here."""
    from sqlalchemy.orm import Session

    assert isinstance(session, Session)
    made = 0
    for asking in requesting:
        for item in catalog.search_application_items(session, "", jurisdiction=asking):
            for requirement in item.required_evidence:
                dataset = catalog.get_dataset(session, requirement.dataset)
                if dataset is None or dataset.owner_scope == "central":
                    continue
                for home in hosted:
                    owner = catalog.owner_agency_for(session, dataset.code, home)
                    rule = request_rule(
                        session,
                        RuleRequest(
                            owner_agency=owner,
                            dataset=dataset.code,
                            application_item=item.code,
                            legal_basis=requirement.legal_basis,
                            requesting_agency_kind=item.agency_kind,
                            requesting_jurisdiction=asking,
                            fields=list(requirement.fields or ()),
                            predicates=[requirement.predicate] if requirement.predicate else [],
                            purpose=requirement.purpose_zh or item.name_zh,
                        ),
                        requested_by=f"federation:{asking}.{item.agency_kind}",
                    )
                    approve_rule(session, rule.id, f"federation:{owner}.owner", owner, "federation")
                    made += 1
    return made


def prepare_node(
    settings: Settings, plan: NodePlan, all_registries: Path, others: Sequence[str]
) -> None:
    """Schema, catalog, this node's registries, accounts, rules (own and cross-node), keys,
    and its agencies' tell-us-once subscriptions."""
    settings.ensure_dirs()
    url = settings.resolved_database_url
    migrations.upgrade(url)
    engine = make_engine(url)
    sessions = make_session_factory(engine)
    try:
        with transaction(sessions) as session:
            if not catalog.list_jurisdictions(session):
                load_catalog(session)
        if not (settings.registries_dir / MANIFEST_NAME).exists():
            copy_registries(all_registries, settings.registries_dir, plan.jurisdictions)
        providers = load_providers(settings.registries_dir)
        try:
            with transaction(sessions) as session:
                seed_demo_accounts(session, list(plan.jurisdictions))
                if seed_demo_rules(session, list(plan.jurisdictions), providers):
                    approve_cross_node_rules(session, others, plan.jurisdictions)
                for owner in providers.owners():
                    keys.ensure_key(session, settings, owner)
                for jurisdiction in plan.jurisdictions:  # read from the feed: no receivers
                    seed_demo_notify(session, jurisdiction, mode="pull")
        finally:
            providers.close()
    finally:
        engine.dispose()


def build_federation(
    root: Path,
    people: int = 1000,
    seed: int = 20101225,
    plans: Sequence[NodePlan] = DEMO_NODES,
    progress: Callable[[str, int, int], None] | None = None,
    refresh_seconds: float = 5.0,
    base_port: int | None = None,
) -> FederationLayout:
    """Make (or reuse) the CA, the directory and every node below ``root``, each node
    registered with the directory. Nothing is started. With ``base_port`` every port is
    derived from it (:class:`FederationPorts`), else the system picks free ones; a reused
    federation built for another ``base_port`` raises :class:`PortsChanged` (its CA's CRL
    address and the directory's registrations name the old ports)."""
    root = Path(root).resolve()
    if (root / "federation.json").exists():
        existing = FederationLayout.read(root)
        built = existing.base_port
        if base_port is not None and built is not None and built != base_port:
            raise PortsChanged(root, built, base_port)
        pair_backups(existing.nodes)  # one built before nodes agreed whose backups to keep
        return existing
    root.mkdir(parents=True, exist_ok=True)
    ca_dir = root / "ca"
    ports = (
        FederationPorts.derive(base_port, len(plans))
        if base_port is not None
        else FederationPorts.free(len(plans))
    )
    directory_port = ports.directory
    if not (ca_dir / "ca.pem").exists():
        ca.init_ca(ca_dir, crl_url=f"http://127.0.0.1:{directory_port}/v1/crl")
    # Every node of this demo listens on loopback, which a real directory refuses.
    directory = Directory(root / "directory", ca_dir, policy=LOOPBACK_DEMO)
    all_registries = root / "registries-all"
    if not (all_registries / MANIFEST_NAME).exists():
        served = [j for p in plans for j in p.jurisdictions]
        codes = [j for j in DEMO_JURISDICTIONS if j in served]
        generate_registries(
            all_registries, people=people, seed=seed, jurisdictions=codes, progress=progress
        )
    layouts = []
    served_all = [j for p in plans for j in p.jurisdictions]
    for plan, (port, peer_port) in zip(plans, ports.nodes, strict=True):
        data_dir = root / "nodes" / plan.id
        settings = Settings(data_dir=data_dir)
        others = [j for j in served_all if j not in plan.jurisdictions]
        prepare_node(settings, plan, all_registries, others)
        fed = federation_dir(settings)
        issued = ca.issue_node(ca_dir, plan.id, fed)
        config = NodeConfig(
            id=plan.id,
            name=plan.name,
            jurisdictions=plan.jurisdictions,
            endpoint=f"https://127.0.0.1:{peer_port}",
            cert=str(fed / f"{plan.id}.pem"),
            key=str(fed / f"{plan.id}.key"),
            ca=str(ca_dir / "ca.pem"),
            directory_url=f"http://127.0.0.1:{directory_port}",
            directory_jwk=directory.public_jwk(),
            refresh_seconds=refresh_seconds,
        )
        config.write(settings)
        register_node(settings, config, directory)
        layouts.append(NodeLayout(plan, data_dir, port, peer_port, issued.serial))
    pair_backups(layouts)
    result = FederationLayout(
        root, ca_dir, root / "directory", directory_port, tuple(layouts), base_port
    )
    nodes = [(n.plan.id, n.settings, n.url) for n in layouts]
    configure_witnesses(result.directory_home, result.directory_url, nodes)
    result.write()
    return result


def pair_backups(layouts: Sequence[NodeLayout]) -> None:
    """The demo's backup partners, a ring: each node ships its backups to the next and keeps
    those of the one before it (a node keeps only the backups it agreed to keep). A node's
    configuration already so is not written again."""
    for index, layout in enumerate(layouts):
        ships_to = layouts[(index + 1) % len(layouts)].plan.id
        keeps_for = layouts[index - 1].plan.id
        written = NodeConfig.read(layout.settings)
        assert written is not None
        paired = dataclasses.replace(
            written,
            backup_partner=ships_to,
            accept_backups_from=(keeps_for,) if keeps_for != layout.plan.id else (),
        )
        if paired != written:
            paired.write(layout.settings)


def register_node(settings: Settings, config: NodeConfig, directory: Directory) -> None:
    engine = make_engine(settings.resolved_database_url)
    try:
        providers = load_providers(settings.registries_dir)
        with make_session_factory(engine)() as session:
            directory.add_node(registration(session, settings, config, providers))
        providers.close()
    finally:
        engine.dispose()


def _wait(url: str, process: subprocess.Popen[bytes], timeout: float = 120.0) -> None:
    """Until ``url`` answers; a process that never does is stopped, not left behind."""
    try:
        _poll(url, process, timeout)
    except BaseException:
        stop(process)
        raise


def _poll(url: str, process: subprocess.Popen[bytes], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{url}: the process exited with {process.returncode}")
        try:
            if httpx.get(url, timeout=1.0, verify=False).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{url} did not come up in {timeout} s")


def _python() -> list[str]:
    return [sys.executable, "-m", "onceonly.cli"]


def start_directory(layout: FederationLayout, log: Path | None = None) -> subprocess.Popen[bytes]:
    command = [
        *_python(),
        "directory",
        "serve",
        "--home",
        str(layout.directory_home),
        "--ca-dir",
        str(layout.ca_dir),
        "--port",
        str(layout.directory_port),
    ]
    process = _spawn(command, log)
    _wait(layout.directory_url + "/healthz", process)
    return process


def start_node(
    node: NodeLayout,
    log: Path | None = None,
    env: dict[str, str] | None = None,
    host: str = "127.0.0.1",
) -> subprocess.Popen[bytes]:
    """The node's web app on ``host``; its peer listener on loopback, where the directory
    says the other nodes reach it."""
    command = [
        *_python(),
        "federation",
        "serve",
        "--data-dir",
        str(node.data_dir),
        "--host",
        host,
        "--port",
        str(node.port),
        "--peer-host",
        "127.0.0.1",
        "--peer-port",
        str(node.peer_port),
    ]
    process = _spawn(command, log, env)
    _wait(node.url + "/healthz", process)
    return process


def start_notify_worker(
    node: NodeLayout, log: Path | None = None, env: dict[str, str] | None = None
) -> subprocess.Popen[bytes]:
    """The node's notify worker: it also relays moves to the other nodes."""
    return _spawn(
        [*_python(), "notify", "worker"],
        log,
        {"ONCEONLY_DATA_DIR": str(node.data_dir), **(env or {})},
    )


def _spawn(
    command: list[str], log: Path | None, env: dict[str, str] | None = None
) -> subprocess.Popen[bytes]:
    out = open(log, "ab") if log else subprocess.DEVNULL  # noqa: SIM115
    return subprocess.Popen(
        command, stdout=out, stderr=subprocess.STDOUT, env={**os.environ, **(env or {})}
    )


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)
