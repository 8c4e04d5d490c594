"""The demo's mail sink: an SMTP server on loopback that keeps every message the demo sends
(case updates, tell-us-once notices) in a Maildir in the demo's data directory, so no mail
fails and administrators can read what citizens were sent at ``/admin/mail``.

The app only knows the sink through its settings (``smtp_port`` and ``mail_sink_dir``); this
module is the demo's, and production never imports it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from aiosmtpd.controller import Controller
from aiosmtpd.handlers import Mailbox

MAIL_SINK_PORT_OFFSET = 9
"""The sink listens on ``--port`` + 9 (gateways take + 11, + 12; receivers + 21 ...)."""
MAIL_SINK_HOST = "127.0.0.1"


def mail_sink_port(port: int) -> int:
    return port + MAIL_SINK_PORT_OFFSET


def mail_dir(data_dir: Path) -> Path:
    return Path(data_dir) / "mail"


@dataclass
class MailSink:
    """A running sink; :meth:`close` stops it."""

    controller: Controller
    directory: Path

    @property
    def port(self) -> int:
        return int(self.controller.port)

    def close(self) -> None:
        self.controller.stop()


def start(directory: Path, port: int, host: str = MAIL_SINK_HOST) -> MailSink:
    """Listen on ``host``:``port`` and store each message in the Maildir ``directory``."""
    directory.parent.mkdir(parents=True, exist_ok=True)
    for folder in ("tmp", "new", "cur"):  # Maildir makes them only for a folder it creates
        (directory / folder).mkdir(parents=True, exist_ok=True)
    controller = Controller(Mailbox(directory), hostname=host, port=port)
    controller.start()
    return MailSink(controller, directory)
