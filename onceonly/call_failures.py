"""Why a call to another system failed, in words: a webhook delivery, a move relay, a witness
push, a citizen's e-mail, an owner's HTTP source. The reason is stored with the delivery or
shown to a clerk or an administrator, who should read what happened ("could not connect",
"did not answer in time"), not the name of the exception a library raised."""

from __future__ import annotations

import ssl

import httpx

from onceonly.federation.peer_http import PeerTimeout, PeerUnreachable
from onceonly.i18n import LANGUAGES, t

_TIMEOUTS = (httpx.TimeoutException, TimeoutError, PeerTimeout)
_REFUSALS = (httpx.ConnectError, ConnectionRefusedError, PeerUnreachable)
_BREAKS = (httpx.ReadError, httpx.WriteError, httpx.RemoteProtocolError, ConnectionError)


def failure_kind(error: BaseException) -> str:
    """The message key of what went wrong (``call_failure.tls``, ``.timeout``, ``.connect``,
    ``.broken`` or ``.other``), for a caller that words the failure its own way."""
    causes = [error, error.__cause__, error.__context__]
    if any(isinstance(c, ssl.SSLError) for c in causes) or "SSL" in str(error):
        return "call_failure.tls"
    if isinstance(error, _TIMEOUTS):
        return "call_failure.timeout"
    if isinstance(error, _REFUSALS):
        return "call_failure.connect"
    if isinstance(error, _BREAKS):
        return "call_failure.broken"
    return "call_failure.other"


def what_it_said(error: BaseException) -> str:
    """The first line of the error's own message; empty when it has none."""
    text = str(error).strip()
    return text.splitlines()[0] if text else ""


def failure_in_words(error: BaseException, lang: str | None = None) -> str:
    """What went wrong, with what the system said (if anything) after it. Without ``lang``,
    Traditional Chinese then English: for a reason stored once and read by either."""
    said = what_it_said(error)
    langs = [lang] if lang else list(LANGUAGES)
    texts = [
        t(failure_kind(error), each) + (t("call_failure.said", each, said=said) if said else "")
        for each in langs
    ]
    return " / ".join(texts)


def failure_by_language(error: BaseException) -> dict[str, str]:
    """:func:`failure_in_words` in each language, for a reason set into a message of each."""
    return {lang: failure_in_words(error, lang) for lang in LANGUAGES}
