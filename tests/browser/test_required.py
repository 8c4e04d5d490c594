"""Browser tests fail, not skip, when the run asked for them and Chromium is missing."""

from __future__ import annotations

import pytest

from tests.browser.conftest import require_chromium


def test_a_missing_chromium_fails_when_the_run_asked_for_browser_tests() -> None:
    try:
        require_chromium("/nonexistent/chromium", required=True)
    except pytest.fail.Exception:
        return
    except pytest.skip.Exception:
        pass  # fall through: a skip here would hide the very bug this test is for
    pytest.fail("a missing Chromium did not fail the run that asked for browser tests")


def test_a_missing_chromium_skips_on_a_casual_run() -> None:
    with pytest.raises(pytest.skip.Exception):
        require_chromium("/nonexistent/chromium", required=False)


def test_a_present_chromium_is_used() -> None:
    require_chromium(__file__, required=True)
