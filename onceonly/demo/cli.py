"""``onceonly demo``: the command lives with the demo; :data:`onceonly.cli.COMMANDS` finds it by
name, so the production CLI never imports the demo."""

from __future__ import annotations

import signal
from pathlib import Path

import typer

from onceonly.config import Settings
from onceonly.i18n import t


def demo(
    host: str = typer.Option("127.0.0.1", help="Address to listen on."),
    port: int = typer.Option(8000, help="Port to listen on."),
    data_dir: Path = typer.Option(
        Path("onceonly-data"), help="Where the database, registries and keys live (reused)."
    ),
    people: int = typer.Option(1000, min=200, help="Demo population on first run."),
    seed: int = typer.Option(20101225, help="Seed of the deterministic demo data."),
    serve_app: bool = typer.Option(True, "--serve/--no-serve", help="Start the web server."),
    federated: bool = typer.Option(
        False, "--federated", help="A directory and three nodes instead (see federation demo)."
    ),
) -> None:
    """Build (or reuse) the demo government on embedded SQLite and serve it."""
    if federated:
        from onceonly.demo.federated.run import run_federated_demo

        return run_federated_demo(
            data_dir / "federation", people, seed, serve_app, host=host, port=port
        )
    from onceonly.demo.console import print_demo_summary, print_gateways
    from onceonly.demo.run import prepare_demo, progress_bar

    if serve_app:
        _refuse_taken_ports(host, port)
        _use_mail_sink(data_dir, port)
    settings = Settings(data_dir=data_dir)
    bar, report = progress_bar()
    with bar:
        state = prepare_demo(settings, people=people, seed=seed, progress=report)
    from dataclasses import replace

    from onceonly.demo import gateways, open311_demo

    state = replace(state, open311_key=open311_demo.seed_settings(settings))

    plans = gateways.move_to_gateways(
        settings, settings.data_dir / "gateways", gateways.demo_ports(port)
    )
    print_demo_summary(state, settings, f"http://{host}:{port}")
    print_gateways(settings, gateways.addresses(plans))
    if serve_app:
        for lang in ("zh-TW", "en"):
            typer.echo(t("demo.outboxes", lang, url=f"http://{host}:{port}", user="tpe-city-admin"))
    if serve_app:
        import uvicorn

        from onceonly.demo import notify_demo
        from onceonly.web.app import create_app

        # uvicorn re-raises the signal that stopped it; SIGTERM's default action would end
        # the process before `finally`, leaving the demo's child processes behind.
        signal.signal(signal.SIGTERM, _exit_on_sigterm)
        from onceonly.demo import mail_sink

        running = []
        notifications = None
        assert settings.mail_sink_dir is not None
        sink = mail_sink.start(settings.mail_sink_dir, settings.smtp_port)
        try:
            log = settings.data_dir / "gateways" / "gateways.log"
            running = [gateways.start(plan, log) for plan in plans]
            app_ = create_app(settings)
            notifications = notify_demo.start(settings, notify_demo.seed(app_.state.sessions, port))
            uvicorn.run(app_, host=host, port=port, log_level="warning")
        finally:
            sink.close()
            if notifications is not None:
                notifications.close()
            for process in running:
                process.terminate()
            for process in running:
                process.wait(10)


def _use_mail_sink(data_dir: Path, port: int) -> None:
    """Every part of this process (web app, notify worker) sends its mail to the demo's
    sink: the settings come from the environment, as a deployment's do."""
    import os

    from onceonly.demo import mail_sink

    os.environ["ONCEONLY_SMTP_HOST"] = mail_sink.MAIL_SINK_HOST
    os.environ["ONCEONLY_SMTP_PORT"] = str(mail_sink.mail_sink_port(port))
    os.environ["ONCEONLY_MAIL_SINK_DIR"] = str(mail_sink.mail_dir(data_dir).resolve())


def _refuse_taken_ports(host: str, port: int) -> None:
    """Stop before building anything when a port the demo needs is taken (another demo,
    most likely)."""
    from onceonly.demo.ports import refuse_taken

    refuse_taken(needed_ports(host, port), port, "demo.port_taken")


def needed_ports(host: str, port: int) -> list[tuple[str, int]]:
    """Every (address, port) the demo serving on ``port`` binds: the web port, its
    gateways', its tell-us-once receivers' and its mail sink's."""
    from onceonly.demo import gateways
    from onceonly.demo.mail_sink import mail_sink_port
    from onceonly.notify.demo import demo_receiver_ports

    loopback = [
        *gateways.demo_ports(port).values(),
        *demo_receiver_ports(port).values(),
        mail_sink_port(port),
    ]
    return [(host, port)] + [("127.0.0.1", p) for p in loopback]


def _exit_on_sigterm(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)
