"""``onceonly demo --federated``: a directory and three nodes on this machine, and where to look."""

from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path

from rich.console import Console

from onceonly.accounts.demo_accounts import DEMO_PASSWORD
from onceonly.demo import mail_sink
from onceonly.demo.federated.cluster import (
    FederationLayout,
    FederationPorts,
    NodeLayout,
    build_federation,
    start_directory,
    start_node,
    start_notify_worker,
    stop,
)
from onceonly.demo.federated.open311_seed import CALLER_PHONE, seed_routed_request
from onceonly.demo.registries.manifest import RegistryManifest
from onceonly.i18n import t


def refuse_other_ports(root: Path, port: int) -> None:
    """Stop, in words, when the federation under ``root`` was built for another ``--port``
    (its CA's CRL address and the directory's registrations name those ports)."""
    import typer

    if (root / "federation.json").exists():
        built = FederationLayout.read(root).base_port
        if built is not None and built != port:  # None: built before ports followed --port
            for lang in ("zh-TW", "en"):
                message = t("federation.demo.ports_changed", lang, root=str(root), port=built)
                typer.echo(message, err=True)
            raise typer.Exit(2)


def check_ports(host: str, port: int) -> None:
    """Stop, in words and before building or starting anything, when ``--host`` would keep
    the nodes from reaching each other or when a port derived from ``port`` is taken."""
    import typer

    from onceonly.demo.ports import reaches_loopback, refuse_taken

    if not reaches_loopback(host):
        for lang in ("zh-TW", "en"):
            typer.echo(t("federation.demo.host_unreachable", lang, host=host), err=True)
        raise typer.Exit(2)
    ports = FederationPorts.derive(port)
    webs = {web for web, _ in ports.nodes}
    needed = [(host if p in webs else "127.0.0.1", p) for p in ports.all()]
    refuse_taken(needed, port, "federation.demo.port_taken")


def mail_env(node: NodeLayout) -> dict[str, str]:
    """What a node's processes (web app, notify worker) are told of its mail sink: they send
    there and ``/admin/mail`` reads its Maildir, from the environment as a deployment's
    settings come. The sink listens on the node's web port + 9, as ``onceonly demo``'s."""
    return {
        "ONCEONLY_SMTP_HOST": mail_sink.MAIL_SINK_HOST,
        "ONCEONLY_SMTP_PORT": str(mail_sink.mail_sink_port(node.port)),
        "ONCEONLY_MAIL_SINK_DIR": str(mail_sink.mail_dir(node.data_dir).resolve()),
    }


def start_federation(
    layout: FederationLayout, logs: Path, host: str
) -> tuple[list[subprocess.Popen[bytes]], list[mail_sink.MailSink]]:
    """The directory, and per node its mail sink (in this process), web app and notify
    worker. On failure whatever had started is stopped."""
    processes: list[subprocess.Popen[bytes]] = []
    sinks: list[mail_sink.MailSink] = []
    try:
        processes.append(start_directory(layout, logs / "directory.log"))
        for node in layout.nodes:
            env = mail_env(node)
            sinks.append(
                mail_sink.start(Path(env["ONCEONLY_MAIL_SINK_DIR"]), int(env["ONCEONLY_SMTP_PORT"]))
            )
            processes.append(start_node(node, logs / f"{node.plan.id}.log", env, host=host))
            processes.append(start_notify_worker(node, logs / f"{node.plan.id}-notify.log", env))
    except BaseException:
        stop_federation(processes, sinks)
        raise
    return processes, sinks


def stop_federation(
    processes: list[subprocess.Popen[bytes]], sinks: list[mail_sink.MailSink]
) -> None:
    for process in reversed(processes):
        stop(process)
    for sink in sinks:
        sink.close()


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
    console.print(t("federation.demo.mail", "zh-TW", url=taipei.url, user="tpe-city-admin"))
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
    root: Path,
    people: int = 1000,
    seed: int = 20101225,
    serve: bool = True,
    host: str = "127.0.0.1",
    port: int = 8000,
) -> None:
    """Build (or reuse) the federation with every port derived from ``port``
    (:class:`FederationPorts`) and serve the nodes' web apps on ``host``."""
    refuse_other_ports(root.resolve(), port)
    if serve:
        check_ports(host, port)
    console = Console()
    with console.status(t("federation.demo.building", "zh-TW")):
        layout = build_federation(root, people=people, seed=seed, base_port=port)
    if not serve:
        print_federation_summary(layout, console)
        return
    logs = layout.root / "logs"
    logs.mkdir(exist_ok=True)
    processes, sinks = start_federation(layout, logs, host)
    try:
        print_federation_summary(layout, console)
        routed = seed_routed_request(layout)
        console.print(
            t(
                "hotline.demo.routed",
                "zh-TW",
                id=routed,
                url=layout.node("taipei").url,
                phone=CALLER_PHONE,
            )
        )
        console.print(t("federation.demo.stop", "zh-TW", logs=str(logs)))
        signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
        while all(p.poll() is None for p in processes):
            time.sleep(0.5)
    except KeyboardInterrupt:
        pass
    finally:
        stop_federation(processes, sinks)
