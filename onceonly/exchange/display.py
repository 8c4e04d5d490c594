"""The ``display`` claim: the names people read, signed into the transcript with the data.

A printed or offline transcript then needs no catalogue to say "臺北市政府社會局" instead of
``taipei-city.social_welfare``, or "家庭平均每人每月所得低於門檻（19,013）：是" instead of a code.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy.orm import Session

from onceonly.catalog import service as catalog

LANGS = ("zh-TW", "en")


def _both(zh: str, en: str) -> dict[str, str]:
    return {"zh-TW": zh, "en": en}


def dataset_names(dataset: catalog.DatasetView) -> dict[str, str]:
    """The dataset's name in each language, as signed into a transcript and said in a reason."""
    return _both(dataset.name_zh, dataset.name_en)


def evidence_names(dataset: catalog.DatasetView, predicate: str | None) -> dict[str, str]:
    """An asked piece of evidence in each language: the predicate's name when a predicate
    was asked (是否為低收入戶), else the dataset's (戶籍資料)."""
    question = dataset.predicate(predicate) if predicate else None
    if question is not None:
        return _both(question.name_zh, question.name_en)
    return dataset_names(dataset)


def transcript_display(
    session: Session,
    cat: catalog.CachedCatalog,
    owner: str,
    dataset: catalog.DatasetView,
    field_names: Iterable[str],
    predicate: str | None,
    params: dict[str, Any],
) -> dict[str, Any]:
    display: dict[str, Any] = {
        "issuer": {lang: cat.name(session, owner, lang) for lang in LANGS},
        "dataset": dataset_names(dataset),
    }
    labels: dict[str, dict[str, str]] = {}
    for name in field_names:
        head = name.split(".", 1)[0]
        for shown in (head, name):
            view = dataset.field(shown)
            if view is not None:
                labels[shown] = _both(view.label_zh, view.label_en)
                for item in view.items:
                    labels[f"{shown}.{item.name}"] = _both(item.label_zh, item.label_en)
    if labels:
        display["fields"] = labels
    if predicate:
        question = dataset.predicate(predicate)
        if question is not None:
            values = "，".join(
                f"{value:,}" if isinstance(value, int) else str(value) for value in params.values()
            )
            suffix_zh = f"（{values}）" if values else ""
            suffix_en = f" ({values})" if values else ""
            display["predicate"] = _both(question.name_zh + suffix_zh, question.name_en + suffix_en)
    return display
