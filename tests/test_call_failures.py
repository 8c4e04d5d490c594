"""Why a call failed is told in words (``onceonly.call_failures``), against real sockets on
loopback: a port nobody listens on, a listener that never answers."""

from __future__ import annotations

import socket

import httpx
from hypothesis import given
from hypothesis import strategies as st

from onceonly.call_failures import failure_in_words
from onceonly.demo.ports import free_port


def test_a_refused_connection_is_could_not_connect_with_what_the_system_said() -> None:
    try:
        httpx.get(f"http://127.0.0.1:{free_port()}/", timeout=2)
    except httpx.HTTPError as error:
        words, english = failure_in_words(error), failure_in_words(error, "en")
    assert words.startswith("無法連線") and " / could not connect" in words
    assert "Connection refused" in words and "ConnectError" not in words
    assert english.startswith("could not connect (what was said:")


def test_a_listener_that_never_answers_did_not_answer_in_time() -> None:
    with socket.create_server(("127.0.0.1", 0)) as silent:
        port = silent.getsockname()[1]
        try:
            httpx.get(f"http://127.0.0.1:{port}/", timeout=0.3)
        except httpx.HTTPError as error:
            words = failure_in_words(error, "en")
    assert words.startswith("did not answer in time"), words
    assert "Timeout" not in words


@given(st.text(max_size=200).filter(lambda said: "Error" not in said))
def test_whatever_an_error_says_the_reason_is_one_line_in_both_languages(said: str) -> None:
    words = failure_in_words(RuntimeError(said))
    assert words.startswith("傳送失敗") and " / sending failed" in words
    assert "\n" not in words and "\r" not in words and "Error" not in words
