"""Browser tests: the real app served by uvicorn on 127.0.0.1, Debian's Chromium driven by
Playwright, and a local SMTP server (aiosmtpd) receiving the citizen's e-mails.

Chromium comes from the system (``ONCEONLY_CHROMIUM``, default /usr/bin/chromium); browsers
are never downloaded. Every test leaves a screenshot in ``artifacts/screenshots/<test>.png``.
"""

from __future__ import annotations

import contextlib
import os
import re
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any, cast
from urllib.parse import urlsplit

import pytest
import uvicorn
from aiosmtpd.controller import Controller
from playwright.sync_api import Browser, BrowserContext, Page, expect, sync_playwright

from onceonly.config import Settings
from onceonly.demo.ports import free_port
from onceonly.web.app import create_app
from tests.conftest import DemoEnv

expect.set_options(timeout=15_000)  # as the actions' default below: a loaded CI machine is slow

CHROMIUM = os.environ.get("ONCEONLY_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOTS = Path(__file__).resolve().parents[2] / "artifacts" / "screenshots"
PASSWORD = "onceonly-demo"

pytestmark = pytest.mark.browser


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/browser/" in str(item.fspath).replace(os.sep, "/"):
            item.add_marker(pytest.mark.browser)


@dataclass
class Mailbox:
    """What the local SMTP server received."""

    port: int = 0
    messages: list[EmailMessage] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = cast(EmailMessage, message_from_bytes(envelope.content, policy=policy.default))
        with self.lock:
            self.messages.append(message)
        return "250 OK"

    def to(self, address: str) -> list[EmailMessage]:
        with self.lock:
            return [m for m in self.messages if address in str(m["To"])]

    def wait_for(self, address: str, count: int, timeout: float = 10.0) -> list[EmailMessage]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = self.to(address)
            if len(found) >= count:
                return found
            time.sleep(0.05)
        return self.to(address)


@pytest.fixture
def mailbox() -> Iterator[Mailbox]:
    box = Mailbox(port=free_port())
    controller = Controller(box, hostname="127.0.0.1", port=box.port)
    controller.start()
    try:
        yield box
    finally:
        controller.stop()


@dataclass
class Site:
    base: str
    env: DemoEnv
    settings: Settings
    app: Any

    def url(self, path: str) -> str:
        return self.base + path


@contextlib.contextmanager
def serve(env: DemoEnv, settings: Settings) -> Iterator[Site]:
    """The app of ``settings`` as a real HTTP server on a free local port."""
    port = free_port()
    app = create_app(settings)
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the app server did not start")
        time.sleep(0.02)
    try:
        yield Site(f"http://127.0.0.1:{port}", env, settings, app)
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        exchange = getattr(app.state, "exchange", None)
        if exchange is not None:
            exchange.close()
        app.state.engine.dispose()


@pytest.fixture
def site(demo_env: DemoEnv, mailbox: Mailbox) -> Iterator[Site]:
    """The demo app as a real HTTP server on a free local port, mailing the local SMTP server."""
    settings = demo_env.settings.model_copy(
        update={"smtp_host": "127.0.0.1", "smtp_port": mailbox.port}
    )
    with serve(demo_env, settings) as served:
        yield served


def require_chromium(path: str, required: bool) -> None:
    """Skip when there is no Chromium at ``path``, unless the run asked for browser tests
    (``./run-tests`` sets ``ONCEONLY_CHROMIUM``): then a missing browser fails the run, so a
    CI without Chromium cannot pass while its browser tests silently did nothing."""
    if Path(path).exists():
        return
    message = f"no Chromium at {path} (set ONCEONLY_CHROMIUM; ./run-tests installs it)"
    if required:
        pytest.fail(message + ": ONCEONLY_CHROMIUM is set, so browser tests must run")
    pytest.skip(message)


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    require_chromium(CHROMIUM, required="ONCEONLY_CHROMIUM" in os.environ)
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            launched.close()


def shot_path(request: pytest.FixtureRequest, suffix: str = "") -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    name = re.sub(r"[^A-Za-z0-9_.-]+", "_", request.node.name) + suffix
    return SCREENSHOTS / f"{name}.png"


@pytest.fixture
def context(browser: Browser) -> Iterator[BrowserContext]:
    made = browser.new_context(locale="zh-TW", viewport={"width": 1280, "height": 900})
    made.set_default_timeout(15_000)
    try:
        yield made
    finally:
        made.close()


@pytest.fixture
def page(context: BrowserContext, request: pytest.FixtureRequest) -> Iterator[Page]:
    """A tab; its last state is saved as the test's screenshot, pass or fail."""
    tab = context.new_page()
    yield tab
    with contextlib.suppress(Exception):  # a crashed tab must not hide the test's failure
        tab.screenshot(path=str(shot_path(request)), full_page=True)


AXE_SOURCE = Path(__file__).with_name("vendor").joinpath("axe.min.js")
AXE_IMPACTS = ("serious", "critical")


def axe_violations(page: Page, known: dict[str, str] | None = None) -> list[str]:
    """The serious and critical axe-core findings on ``page``, one readable line each (rule,
    impact, page, first targets). The vendored axe runs through the DevTools protocol
    (``page.evaluate``), which the site's CSP does not govern, so the page is tested as
    served. ``known`` maps a rule id to the reason it is accepted for now."""
    if not page.evaluate("() => typeof window.axe === 'object'"):
        page.evaluate(AXE_SOURCE.read_text(encoding="utf-8"))
    result = page.evaluate(
        """async () => {
            const r = await axe.run(document, {resultTypes: ["violations"]});
            return r.violations.map(v => ({
                id: v.id, impact: v.impact, help: v.help,
                targets: v.nodes.slice(0, 3).map(n => n.target.join(" ")),
                count: v.nodes.length,
            }));
        }"""
    )
    path = urlsplit(page.url).path
    return [
        f"{path}: {v['id']} ({v['impact']}, {v['count']}x) {v['help']}: {', '.join(v['targets'])}"
        for v in result
        if v["impact"] in AXE_IMPACTS and v["id"] not in (known or {})
    ]


def sign_in(page: Page, site: Site, username: str) -> None:
    page.goto(site.url("/login?next=/counter"))
    page.get_by_label("帳號").fill(username)
    page.get_by_label("密碼").fill(PASSWORD)
    page.get_by_role("button", name="登入").click()
    expect(page.get_by_role("heading", level=1)).to_be_visible()


__all__ = ["Mailbox", "Site", "axe_violations", "expect", "sign_in"]
