"""Connectors over an agency's HTTP JSON API.

An endpoint template per dataset (``/persons/{subject}``) is filled with the URL-escaped
subject (and, for a predicate, its URL-escaped parameters); ``records`` is the path to the
record, or to the list of items of a list dataset, in the JSON answer; field paths are
dotted keys inside each record. A 404 means the owner holds no record. A timeout, a
refused connection or a 5xx answer is :class:`~onceonly.providers.base.ProviderUnavailable`
(a 503's ``Retry-After`` is passed on). The auth header's value comes from an environment
variable or a secret file, never from the connector file.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Mapping, Sequence
from datetime import date
from typing import Any
from urllib.parse import quote

import httpx

from onceonly.call_failures import failure_by_language
from onceonly.connectors.engine import ConnectorProvider, Selection, lookup
from onceonly.connectors.loader import Connector
from onceonly.connectors.spec import HttpSource, PredicateSpec
from onceonly.i18n import both


def _path(document: Any, path: str | None) -> Any:
    if not path:
        return document
    node = document
    for part in path.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return None
        node = node[part]
    return node


def _records(document: Any, path: str | None) -> list[Mapping[str, Any]]:
    found = _path(document, path)
    if found is None:
        return []
    items = found if isinstance(found, list) else [found]
    return [item for item in items if isinstance(item, Mapping)]


def _escaped(value: Any) -> str:
    shown = value.isoformat() if isinstance(value, date) else str(value)
    return quote(shown, safe="")


class HttpConnectorProvider(ConnectorProvider):
    """A provider whose source is an HTTP JSON API (see :class:`HttpSource`)."""

    def __init__(self, connector: Connector, *, timeout: float | None = None) -> None:
        super().__init__(connector)
        source = connector.spec.source
        assert isinstance(source, HttpSource)
        self.source = source
        self.timeout = timeout if timeout is not None else source.timeout
        self._client: httpx.Client | None = None
        self._lock = threading.Lock()

    def _headers(self) -> dict[str, str]:
        auth = self.source.auth
        if auth is None:
            return {}
        secret: str | None = None
        if auth.env is not None:
            secret = os.environ.get(auth.env)
        elif auth.file is not None:
            path = self.connector.resolve(auth.file)
            secret = path.read_text("utf-8").strip() if path.is_file() else None
        if not secret:
            raise self.unavailable(both("connectors.unavailable.no_secret", header=auth.header))
        return {auth.header: auth.prefix + secret}

    def _http(self) -> httpx.Client:
        with self._lock:
            if self._client is None:
                self._client = httpx.Client(
                    base_url=self.source.base_url,
                    timeout=self.timeout,
                    headers=self._headers(),
                    follow_redirects=False,
                )
            return self._client

    def _get(self, endpoint: str) -> Any | None:
        """The JSON answer of ``endpoint``; None when the owner holds no record (404)."""
        try:
            answer = self._http().get(endpoint)
        except httpx.HTTPError as error:
            raise self.unavailable(failure_by_language(error)) from error
        if answer.status_code == 404:
            return None
        if answer.status_code >= 400:
            retry = answer.headers.get("retry-after", "")
            problem = self.unavailable(
                both("connectors.unavailable.http_status", status=answer.status_code)
            )
            if retry.isdigit():
                problem.retry_after = int(retry)
            raise problem
        try:
            return answer.json()
        except ValueError as error:
            raise self.unavailable(both("connectors.unavailable.not_json")) from error

    def _rows(self, dataset: str, selection: Selection, subject: str) -> list[Sequence[Any]] | None:
        source = self.plan(dataset).source
        document = self._get((source.endpoint or "").replace("{subject}", _escaped(subject)))
        if document is None:
            return None
        return [
            tuple(lookup(record, ref) for ref in selection.columns)
            for record in _records(document, source.records)
        ]

    def _predicate_rows(
        self, spec: PredicateSpec, subject: str, bound: Mapping[str, Any]
    ) -> list[Mapping[str, Any]]:
        endpoint = spec.endpoint or ""
        for name, value in {**bound, "subject": subject}.items():
            endpoint = endpoint.replace("{" + name + "}", _escaped(value))
        document = self._get(endpoint)
        return [] if document is None else _records(document, spec.records)

    def _sample(self, query: str, limit: int) -> list[Any]:
        document = self._get(query.replace("{limit}", str(limit)))
        return list(document) if isinstance(document, list) else []

    def _as_of_raw(self) -> Any:
        spec = self.source.as_of
        if spec is None or spec.endpoint is None:
            return None
        document = self._get(spec.endpoint)
        return _path(document, spec.from_)

    def close(self) -> None:
        super().close()
        with self._lock:
            if self._client is not None:
                self._client.close()
                self._client = None
