"""``onceonly demo``: one command from an empty folder to a believable government.

Each step is skipped when its result is already in the data directory, so a second run
starts in seconds and keeps whatever was done in the first (cases, audit entries, rules).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from rich.progress import BarColumn, Progress, TaskID, TextColumn, TimeElapsedColumn

from onceonly.accounts.demo_accounts import DemoAccount, seed_demo_accounts
from onceonly.citizens.cards import ensure_demo_pki
from onceonly.config import Settings
from onceonly.db import make_engine, make_session_factory, transaction
from onceonly.demo import notify_demo
from onceonly.demo.connectors import ensure_connectors
from onceonly.demo.registries import DEMO_JURISDICTIONS, generate_registries
from onceonly.demo.registries.manifest import MANIFEST_NAME, RegistryManifest
from onceonly.demo.rules import seed_demo_rules, seed_pending_request
from onceonly.deployment import init_deployment
from onceonly.exchange import keys
from onceonly.providers.registry import load_providers


@dataclass(frozen=True)
class DemoState:
    manifest: RegistryManifest
    accounts: list[DemoAccount]
    rules_made: int
    catalog_loaded: bool
    registries_generated: bool
    open311_key: str | None = None
    """Set by ``onceonly demo`` (``open311_demo.seed_settings``), not here: the tests' shared
    demo keeps no cases of its own."""
    pending_rule: int | None = None
    """The id of the demo's rule request while it waits on the owner's rules page
    (:func:`onceonly.demo.rules.seed_pending_request`); ``None`` once it is decided."""


def prepare_demo(
    settings: Settings,
    people: int = 1000,
    seed: int = 20101225,
    progress: Callable[[str, int, int], None] | None = None,
) -> DemoState:
    """Make (or reuse) everything the demo serves: a deployment exactly as ``onceonly init``
    makes one (settings file, schema, catalog), then the demo's registries and their
    connectors, accounts (its administrators among them), approved access rules, one rule
    request left for its owner to decide, and the owners' signing keys."""
    catalog_loaded = init_deployment(settings).catalog_loaded
    engine = make_engine(settings.resolved_database_url)
    sessions = make_session_factory(engine)
    try:
        manifest_path = settings.registries_dir / MANIFEST_NAME
        registries_generated = not manifest_path.exists()
        if registries_generated:
            manifest = generate_registries(
                settings.registries_dir, people=people, seed=seed, progress=progress
            )
        else:
            manifest = RegistryManifest.read(settings.registries_dir)
            ensure_connectors(settings.registries_dir, manifest)

        providers = load_providers(settings.registries_dir)
        try:
            with transaction(sessions) as session:
                accounts = seed_demo_accounts(session, list(DEMO_JURISDICTIONS))
                rules_made = seed_demo_rules(session, list(DEMO_JURISDICTIONS), providers)
                pending = seed_pending_request(session)  # after: rules made stop the above
                for store in manifest.stores:
                    keys.ensure_key(session, settings, store.owner)
            notify_demo.seed(sessions)
            ensure_demo_pki(settings)
        finally:
            providers.close()
    finally:
        engine.dispose()
    return DemoState(
        manifest,
        accounts,
        rules_made,
        catalog_loaded,
        registries_generated,
        pending_rule=pending.id if pending else None,
    )


def progress_bar() -> tuple[Progress, Callable[[str, int, int], None]]:
    """A Rich progress display and the callback the generator reports to."""
    bar = Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TextColumn("{task.completed:,}/{task.total:,}"),
        TimeElapsedColumn(),
    )
    tasks: dict[str, TaskID] = {}

    def report(step: str, done: int, total: int) -> None:
        if step not in tasks:
            tasks[step] = bar.add_task(step, total=total)
        bar.update(tasks[step], completed=done, total=total)

    return bar, report
