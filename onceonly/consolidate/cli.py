"""``onceonly consolidate``: run a plan, review uncertain pairs, explain a golden record,
write demo legacy data."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from onceonly.config import Settings
from onceonly.consolidate.plan import Plan, PlanError, load_plan, load_plans
from onceonly.i18n import t

app = typer.Typer(
    help="縣市合併資料整合 consolidation for merged governments: map, check, link, resolve, load.",
    no_args_is_help=True,
)


def _console(stderr: bool = False) -> Console:
    """Made per call, so the width follows the terminal (or ``COLUMNS``) of this run."""
    return Console(stderr=stderr)


def _plan(path: Path, lang: str) -> Plan:
    return _plans(path, lang, follow=False)[0]


def _plans(path: Path, lang: str, follow: bool = True) -> list[Plan]:
    """The plan (and with ``follow`` the plans its ``then`` names), or exit 2 naming every
    problem found."""
    try:
        return load_plans(path) if follow else [load_plan(path)]
    except PlanError as error:
        _console(True).print(f"[red]{t('consolidate.cli.plan_invalid', lang)}[/red]")
        for issue in error.issues:  # file names, paths and reasons may hold [brackets]
            where, why = escape(issue.path), escape(issue.reason_in(lang))
            _console(True).print(f"  {escape(issue.file)}: [bold]{where}[/bold]: {why}")
        raise typer.Exit(2) from error


def _sessions(settings: Settings):  # type: ignore[no-untyped-def]
    from onceonly.db import make_engine, make_session_factory

    return make_session_factory(make_engine(settings.resolved_database_url))


@app.command()
def run(
    plan_file: Path = typer.Argument(..., help="The plan (YAML)."),
    backend: str = typer.Option("duckdb", "--backend", help="Linkage backend: duckdb or spark."),
    restart: bool = typer.Option(False, help="Forget finished steps and run everything again."),
    lang: str = typer.Option("zh-TW", help="Language of messages (zh-TW or en)."),
) -> None:
    """Run (or resume) a consolidation plan, then the plans its ``then`` names: report,
    review queue, golden records, load."""
    import shutil

    from onceonly.consolidate.linkage import BACKENDS, LinkageRefused, LinkageUnavailable
    from onceonly.consolidate.load import LoadError
    from onceonly.consolidate.pipeline import Pipeline

    if backend not in BACKENDS:  # before anything is read, made or run
        known = ", ".join(BACKENDS)
        message = t("consolidate.cli.unknown_backend", lang, backend=backend, known=known)
        typer.echo(message, err=True)
        raise typer.Exit(2)
    plans = _plans(plan_file, lang)
    settings = Settings()
    sessions = _sessions(settings)
    for plan in plans:
        if restart and (plan.run_dir / "steps").is_dir():
            shutil.rmtree(plan.run_dir / "steps")
        if len(plans) > 1:
            target = plan.model.target
            _console().print(
                t("consolidate.cli.plan", lang, plan=plan.name, dataset=target.dataset)
            )
        try:
            result = Pipeline(
                plan, sessions, backend, settings.registries_dir, _console(True)
            ).run()
        except LoadError as error:
            _console(True).print(f"[red]{t(error.key, lang, **error.params)}[/red]")
            raise typer.Exit(1) from error
        except LinkageRefused as error:  # too few records to learn from: nothing was linked
            typer.echo(t("consolidate.cli.link_refused", lang), err=True)
            typer.echo(f"  {error.reason(lang)}", err=True)
            typer.echo(t("consolidate.cli.link_advice", lang), err=True)
            raise typer.Exit(1) from error
        except LinkageUnavailable as error:
            reason = str(error)
            typer.echo(
                t("consolidate.cli.backend_unavailable", lang, backend=backend, reason=reason),
                err=True,
            )
            raise typer.Exit(1) from error
        summary = result.summary
        skipped = [s for s, state in result.steps.items() if state == "skipped"]
        if skipped:
            _console().print(t("consolidate.cli.resumed", lang, steps=", ".join(skipped)))
        _console().print(
            t(
                "consolidate.cli.summary",
                lang,
                rows=summary["rows"],
                quarantined=summary["quarantined"],
                golden=summary["golden"],
                review=summary.get("in_band", 0),
            )
        )
        _console().print(
            t("consolidate.cli.report", lang, path=result.run_dir / "report" / "quality.html")
        )


@app.command("review")
def review_cmd(
    plan_file: Path = typer.Argument(..., help="The plan (YAML)."),
    reviewer: str = typer.Option(..., "--as", help="Your username, recorded with each decision."),
    limit: int = typer.Option(20, help="How many pairs to show."),
    lang: str = typer.Option("zh-TW", help="Language of messages (zh-TW or en)."),
) -> None:
    """Decide the uncertain pairs of a plan: same person or parcel (y), different (n), skip
    (s), quit (q)."""
    from onceonly.consolidate import review
    from onceonly.db import transaction

    plan = _plan(plan_file, lang)
    sessions = _sessions(Settings())
    with sessions() as session:
        items = review.pending(session, plan.name, limit)
        snapshot = [(i.id, i.match_probability, i.left, i.right) for i in items]
    if not snapshot:
        _console().print(t("consolidate.cli.review_empty", lang))
        return
    answers = {"y": "match", "n": "non_match"}
    for item_id, probability, left, right in snapshot:
        table = Table(
            title=t("consolidate.cli.review_pair", lang, id=item_id, p=f"{probability:.3f}")
        )
        table.add_column(t("consolidate.report.field", lang))
        table.add_column("A")
        table.add_column("B")
        for name in left:
            if name.startswith("_") and name != "_record_id":
                continue
            a, b = left.get(name), right.get(name)
            style = "" if a == b else "bold yellow"
            table.add_row(name, str(a), str(b), style=style)
        _console().print(table)
        prompt = t(f"consolidate.cli.review_prompt_{plan.model.linkage.entity}", lang)
        answer = typer.prompt(prompt, default="s").strip()
        if answer == "q":
            break
        if answer in answers:
            with transaction(sessions) as session:
                review.decide(session, item_id, answers[answer], reviewer)
    _console().print(t("consolidate.cli.review_done", lang))


@app.command()
def explain(
    plan_file: Path = typer.Argument(..., help="The plan (YAML)."),
    record: str = typer.Argument(..., help="Golden id, source record id or national ID."),
    lang: str = typer.Option("zh-TW", help="Language of messages (zh-TW or en)."),
) -> None:
    """Show why each value of a golden record won, and where it came from."""
    from onceonly.consolidate.pipeline import find_golden
    from onceonly.consolidate.survivorship import explain as explain_record

    plan = _plan(plan_file, lang)
    try:
        found = find_golden(plan.run_dir, record)
    except FileNotFoundError as error:
        _console(True).print(f"[red]{t('consolidate.cli.not_run', lang)}[/red]")
        raise typer.Exit(1) from error
    if found is None:
        _console(True).print(f"[red]{t('consolidate.cli.no_record', lang, record=record)}[/red]")
        raise typer.Exit(1)
    table = Table(
        title=t(
            "consolidate.cli.explain_title",
            lang,
            id=found["golden_id"],
            members=", ".join(found["members"]),
        )
    )
    for header in ("field", "value", "rule", "why", "from", "others"):
        table.add_column(t(f"consolidate.cli.col_{header}", lang))
    for line in explain_record(found, lang):
        table.add_row(*(line[k] for k in ("field", "value", "rule", "why", "from", "others")))
    _console().print(table)


@app.command()
def draft(
    files: list[Path] = typer.Argument(..., help="Legacy files (CSV, Excel, SQLite)."),
    output: Path | None = typer.Option(None, "--output", "-o", help="Write the plan here."),
    lang: str = typer.Option("zh-TW", help="Language of messages (zh-TW or en)."),
) -> None:
    """Profile legacy files and draft a plan (column guesses, date formats, value tables)
    for you to edit; nothing is run."""
    from onceonly.consolidate.draft import UnreadableSource, draft_plan

    missing = [str(f) for f in files if not f.is_file()]
    if missing:
        _console(True).print(t("consolidate.cli.draft_missing", lang, files=", ".join(missing)))
        raise typer.Exit(2)
    try:
        text = draft_plan(files)
    except UnreadableSource as error:
        message = t("consolidate.cli.draft_unreadable", lang, file=str(error.path))
        _console(True).print(f"{message}: {error.reason}", markup=False)
        raise typer.Exit(2) from error
    if output is None:
        typer.echo(text, nl=False)
    else:
        output.write_text(text, "utf-8")
        _console(True).print(t("consolidate.cli.draft_written", lang, path=str(output)))


@app.command("demo-data")
def demo_data(
    directory: Path = typer.Argument(..., help="Where to write the legacy sources and plan."),
    records: int = typer.Option(2000, min=10, help="Legacy rows in both sources together."),
    land_records: int | None = typer.Option(
        None, min=10, help="Legacy rows in both land registers together (default: records / 2)."
    ),
    seed: int = typer.Option(20101225, help="Seed of the deterministic data."),
    excel: bool = typer.Option(False, help="Write the city's source as Excel, not SQLite."),
    registries: Path | None = typer.Option(
        None, help="Registries directory the plan loads into (default: none, no load step)."
    ),
    lang: str = typer.Option("zh-TW", help="Language of messages (zh-TW or en)."),
) -> None:
    """Write the legacy household and land registers of former 臺南縣 and 臺南市, their ground
    truths and the plans (plan.yaml runs land.yaml next)."""
    from onceonly.consolidate.demo import generate_demo

    data = generate_demo(
        directory,
        records=records,
        seed=seed,
        excel=excel,
        registries=registries,
        land_records=land_records,
    )
    _console().print(
        t(
            "consolidate.cli.demo_written",
            lang,
            county=data.county_rows,
            city=data.city_rows,
            people=data.people,
            duplicated=len(data.duplicated_people),
            plan=data.plan,
        )
    )
    _console().print(
        t(
            "consolidate.cli.land_written",
            lang,
            county=data.land.county_rows,
            city=data.land.city_rows,
            parcels=data.land.parcels,
            duplicated=data.land.duplicated_parcels,
            plan=data.land_plan,
        )
    )
