"""What ``onceonly demo`` prints: where to look, whom to sign in as, whom to ask about."""

from __future__ import annotations

from datetime import date

from rich.console import Console
from rich.table import Table

from onceonly.catalog import service as catalog
from onceonly.config import Settings
from onceonly.db import make_engine, make_session_factory, transaction
from onceonly.demo.run import DemoState
from onceonly.domain.roc_date import format_roc_date
from onceonly.i18n import t

FEATURED_ACCOUNTS = (
    "tpe-udd-clerk",
    "tpe-social-clerk",
    "tpe-labour-clerk",
    "tpe-social-owner",
    "moi-household-owner",
    "tpe-auditor",
    "tpe-city-admin",
    "admin",
)


def print_demo_summary(state: DemoState, settings: Settings, url: str) -> None:
    console = Console()
    manifest = state.manifest
    made = "built" if state.registries_generated else "reused"
    console.print(
        f"\n[bold green]onceonly demo[/] — {manifest.people:,} people in "
        f"{len(manifest.jurisdictions)} jurisdictions ({made}), "
        f"data in [cyan]{settings.data_dir.resolve()}[/]"
    )
    console.print(f"  web:       [link={url}]{url}[/link]")
    console.print(f"  catalog:   {url}/catalog")
    console.print(f"  API docs:  {url}/api/docs   keys: {url}/.well-known/jwks.json")
    if state.open311_key:
        console.print(
            f"  Open311:   {url}/open311/v2/discovery.json  (GeoReport v2; "
            f"jurisdiction_id=taipei-city, demo api_key [bold]{state.open311_key}[/])"
        )

    # A terminal of 80 columns cut agency codes short ("taipei-city.urban_de…"); the name
    # already says the agency and the role in words, and Chinese text folds instead of
    # ending in an ellipsis (it has no spaces to wrap at).
    accounts = Table(title=t("demo.summary.accounts", "zh-TW") + " / demo accounts")
    accounts.add_column("username", no_wrap=True)
    accounts.add_column("who", overflow="fold")
    featured = [a for a in state.accounts if a.username in FEATURED_ACCOUNTS]
    for account in featured:
        role = t(f"accounts.role.{account.role}", "en")
        accounts.add_row(account.username, f"{account.display_name} ({role})")
    console.print(accounts)
    password = state.accounts[0].password if state.accounts else ""
    console.print(
        f"  password for every demo account: [bold]{password}[/] "
        f"({len(state.accounts)} accounts: `onceonly users list` shows them all)"
    )

    citizens = Table(title=t("demo.summary.citizens", "zh-TW") + " / sample citizens")
    citizens.add_column("national ID", no_wrap=True)
    citizens.add_column("name", no_wrap=True)
    citizens.add_column("who", overflow="fold")
    for sample in manifest.sample_citizens.values():
        citizens.add_row(sample.national_id, sample.name, t(sample.description_key, "zh-TW"))
    console.print(citizens)
    main = manifest.sample_citizens.get("low_income_applicant")
    if main:
        console.print(
            f"  try: sign in as [bold]tpe-udd-clerk[/], application item "
            "[bold]低收入戶申請等候承租國宅[/] (public-housing-low-income), "
            f"citizen [bold]{main.national_id}[/]"
        )
    if state.pending_rule is not None:
        console.print(
            f"  a rule request to decide: sign in as [bold]tpe-social-owner[/] at "
            f"{url}/owners/rules#rule-{state.pending_rule} (臺北市政府勞動局, as "
            "[bold]tpe-labour-clerk[/], asks for more than its item needs and for longer than "
            "usual: the page warns of both beside the approve button)"
        )
    owner = manifest.sample_citizens.get("taipei_home_owner")
    if owner:
        console.print(
            "  tell-us-once (通報): [bold]"
            f"ONCEONLY_DATA_DIR={settings.data_dir} .venv/bin/onceonly notify record-death "
            f"{owner.national_id}[/] (or the counter form at {url}/counter/tell-us-once as "
            "[bold]tpe-hh-clerk[/]) tells 臺北市 social welfare, tax and land offices and the "
            "national motor vehicles, health and labour insurance offices; each acknowledges at "
            f"{url}/notify/citizens/{owner.national_id} (sign in as [bold]tpe-auditor[/]: the "
            "platform operator sees no citizen's history)"
        )
    if main:
        card = settings.data_dir.resolve() / "cards" / main.national_id / "card.pem"
        console.print(
            t(
                "demo.summary.citizen_portal",
                "zh-TW",
                url=url,
                card=str(card),
                clerk="tpe-labour-clerk",
                data_dir=str(settings.data_dir.resolve()),
            )
        )
    console.print(f"  data as of {format_roc_date(date.fromisoformat(manifest.reference_date))}\n")


def print_gateways(settings: Settings, gateways: dict[str, str]) -> None:
    """Each owner the demo moved behind a gateway, by its name, and where that gateway is."""
    if not gateways:
        return
    console = Console()
    console.print(f"{t('demo.summary.gateways', 'zh-TW')} / {t('demo.summary.gateways', 'en')}:")
    engine = make_engine(settings.resolved_database_url)
    try:
        with transaction(make_session_factory(engine)) as db:
            for owner, url in gateways.items():
                agency = catalog.get_agency(db, owner)
                named = f"{agency.name_zh} / {agency.name_en}" if agency else owner
                console.print(f"  {named}: {url}")
    finally:
        engine.dispose()
