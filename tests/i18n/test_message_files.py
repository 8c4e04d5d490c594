"""Every message file reads as meant: each message exactly one text per language, nothing cut
off. A comma in an unquoted text of a one-line entry (``{zh-TW: ..., en: A (b, c)}``) ends the
text there in YAML, and the rest becomes a key of its own: the counter showed "E-mail
(optional". Offenders are named ``file:line key`` so whoever fixes them finds them."""

from __future__ import annotations

import re
import string
from pathlib import Path

import pytest
import yaml

from onceonly.i18n import _MESSAGES_DIR, LANGUAGES

FILES = sorted(_MESSAGES_DIR.glob("*.yaml"))
PAIRS = {"「": "」", "『": "』", "（": "）", "(": ")", "[": "]", "【": "】", "“": "”"}
CLOSERS = {close: open_ for open_, close in PAIRS.items()}


def _load(path: Path) -> dict[str, object]:
    loaded = yaml.safe_load(path.read_text("utf-8"))
    assert isinstance(loaded, dict), f"{path.name}: not a mapping of keys to messages"
    return loaded


def _lines(path: Path) -> dict[str, int]:
    """Where each key is written."""
    found: dict[str, int] = {}
    for number, line in enumerate(path.read_text("utf-8").splitlines(), start=1):
        match = re.match(r"([A-Za-z0-9_.\-]+):", line)
        if match:
            found.setdefault(match.group(1), number)
    return found


def _offenders(path: Path, problems: list[tuple[str, str]]) -> str:
    lines = _lines(path)
    return "\n".join(f"{path.name}:{lines.get(key, '?')} {key}: {why}" for key, why in problems)


def _texts(path: Path) -> dict[str, dict[str, str]]:
    """The texts of each message of ``path`` in each language (whatever else it holds is the
    first test's to name)."""
    found = {}
    for key, entry in _load(path).items():
        if isinstance(entry, dict):
            texts = {lang: entry.get(lang) for lang in LANGUAGES}
            if all(isinstance(text, str) for text in texts.values()):
                found[key] = {lang: str(text) for lang, text in texts.items()}
    return found


def unbalanced(text: str) -> str | None:
    """What is left open or closed unopened in ``text``: brackets, 「」 and quotes."""
    stack: list[str] = []
    for character in text:
        if character in PAIRS:
            stack.append(character)
        elif character in CLOSERS:
            if not stack or stack[-1] != CLOSERS[character]:
                return f"{character!r} closes nothing open"
            stack.pop()
    if stack:
        return f"{stack[-1]!r} is never closed"
    if text.count('"') % 2:
        return "an odd number of '\"'"
    return None


def placeholders(text: str) -> set[str]:
    """The ``{names}`` a text is filled in with; a name kept per language (``{why_zh}`` and
    ``{why_en}``) counts as one."""
    names = {name for _, name, _, _ in string.Formatter().parse(text) if name is not None}
    return {re.sub(r"_(zh|en)$", "", name) for name in names}


@pytest.mark.parametrize("path", FILES, ids=lambda path: path.name)
def test_every_message_has_exactly_its_two_texts(path: Path) -> None:
    problems = []
    for key, texts in _load(path).items():
        if not isinstance(texts, dict):
            problems.append((key, f"not a {{zh-TW: ..., en: ...}} mapping but {texts!r}"))
            continue
        if set(texts) != set(LANGUAGES):
            extra = sorted(str(k) for k in set(texts) - set(LANGUAGES))
            missing = sorted(set(LANGUAGES) - set(texts))
            problems.append((key, f"keys beyond the languages {extra}, missing {missing}"))
        for lang, text in texts.items():
            if lang in LANGUAGES and not isinstance(text, str):
                problems.append((key, f"{lang} is {text!r}, not text"))
    assert not problems, "messages cut apart or malformed:\n" + _offenders(path, problems)


@pytest.mark.parametrize("path", FILES, ids=lambda path: path.name)
def test_brackets_and_quotes_close_in_every_text(path: Path) -> None:
    problems = [
        (key, f"{lang} {text!r}: {why}")
        for key, texts in _texts(path).items()
        for lang, text in texts.items()
        if (why := unbalanced(text))
    ]
    assert not problems, "texts cut off or mistyped:\n" + _offenders(path, problems)


@pytest.mark.parametrize("path", FILES, ids=lambda path: path.name)
def test_both_languages_fill_in_the_same_placeholders(path: Path) -> None:
    problems = []
    for key, texts in _texts(path).items():
        try:
            chinese, english = (placeholders(texts[lang]) for lang in LANGUAGES)
        except ValueError as bad:
            problems.append((key, f"not a format string: {bad}"))
            continue
        if chinese != english:
            problems.append((key, f"zh-TW {sorted(chinese)}, en {sorted(english)}"))
    assert not problems, "the languages differ in what they say:\n" + _offenders(path, problems)


def test_the_checks_catch_what_they_are_for() -> None:
    """The defect this file is about, and the checks' own reading of texts."""
    cut = yaml.safe_load(
        "k: {zh-TW: 電子郵件（選填，用於通知）, en: E-mail (optional, for updates)}"
    )
    assert set(cut["k"]) != set(LANGUAGES) and unbalanced(cut["k"]["en"])
    assert unbalanced('「好」（是）(yes) "q"') is None
    assert unbalanced("見「附件") and unbalanced("a)") and unbalanced('say "x')
    assert placeholders("{why_zh}：{n}") == placeholders("{n}: {why_en}") == {"why", "n"}
