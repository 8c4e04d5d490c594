"""``onceonly demo --federated``: a directory and three nodes on this machine, and where to look."""

from __future__ import annotations

import signal
import time
from pathlib import Path

from rich.console import Console

from onceonly.accounts.service import DEMO_PASSWORD
from onceonly.demo.federated.cluster import (
    FederationLayout,
    build_federation,
    start_directory,
    start_node,
    start_notify_worker,
    stop,
)
from onceonly.demo.registries.manifest import RegistryManifest
from onceonly.i18n import t


def print_federation_summary(layout: FederationLayout, console: Console) -> None:
    manifest = RegistryManifest.read(layout.root / "registries-all")
    yilan = manifest.sample("yilan_resident")
    taipei = layout.node("taipei")
    regional = layout.node("north-regional")
    console.print(f"\n[bold green]{t('federation.demo.title', 'zh-TW')}[/] — {layout.root}")
    console.print(f"  directory: {layout.directory_url}/v1/snapshot  (CRL: /v1/crl.pem)")
    for node in layout.nodes:
        console.print(
            f"  {node.plan.name:<24} web {node.url}   peer https://127.0.0.1:{node.peer_port}"
            f"   jurisdictions {', '.join(node.plan.jurisdictions)}"
        )
    console.print(
        "\n"
        + t(
            "federation.demo.try",
            "zh-TW",
            url=taipei.url,
            user="tpe-udd-clerk",
            password=DEMO_PASSWORD,
            subject=yilan.national_id,
            name=yilan.name,
        )
    )
    console.print(
        t(
            "federation.demo.move",
            "zh-TW",
            url=taipei.url,
            user="tpe-hh-clerk",
            name=yilan.name,
            subject=yilan.national_id,
            regional=regional.url,
        )
    )
    console.print(
        t(
            "federation.demo.revoke",
            "zh-TW",
            command=f"onceonly pki revoke {regional.cert_serial} --reason key_compromise "
            f"--ca-dir {layout.ca_dir}",
        )
    )
    console.print(
        t(
            "federation.demo.backup",
            "zh-TW",
            ship=f"onceonly backup ship --data-dir {taipei.data_dir}",
            drill=f"onceonly backup restore-drill --data-dir {layout.node('new-taipei').data_dir}",
        )
    )


def run_federated_demo(
    root: Path, people: int = 1000, seed: int = 20101225, serve: bool = True
) -> None:
    console = Console()
    with console.status(t("federation.demo.building", "zh-TW")):
        layout = build_federation(root, people=people, seed=seed)
    if not serve:
        print_federation_summary(layout, console)
        return
    logs = layout.root / "logs"
    logs.mkdir(exist_ok=True)
    processes = [start_directory(layout, logs / "directory.log")]
    try:
        for node in layout.nodes:
            processes.append(start_node(node, logs / f"{node.plan.id}.log"))
            processes.append(start_notify_worker(node, logs / f"{node.plan.id}-notify.log"))
        print_federation_summary(layout, console)
        console.print(t("federation.demo.stop", "zh-TW", logs=str(logs)))
        signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
        while all(p.poll() is None for p in processes):
            time.sleep(0.5)
    except KeyboardInterrupt:
        pass
    finally:
        for process in reversed(processes):
            stop(process)
