"""Schema-based fuzzing of the whole API with Schemathesis, as every staff role of the demo.

Schemathesis reads ``/openapi.json`` and generates requests for every operation, valid ones
and ones that break the schema (wrong types, huge numbers, missing fields, odd strings). The
app answers in process (ASGI) with the demo's data, signed in as a clerk, an owner, an
auditor and the platform administrator. Any 5xx fails, and so does an answer the document
does not describe: an undocumented status, a wrong content type, a body off its schema.

Bounded for CI by a fixed number of examples per operation and mode (not by a clock, which a
busy machine would fail), derandomized so a failure reproduces; ``ONCEONLY_FUZZ_EXAMPLES``
asks for more on a long local run. The suite's log names its slowest tests.
"""

from __future__ import annotations

import os
import traceback
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from onceonly.web.app import create_app
from tests.conftest import DemoEnv
from tests.web.conftest import ROLES, bearer_for

EXAMPLES = int(os.environ.get("ONCEONLY_FUZZ_EXAMPLES", "6"))
"""Examples per operation and generation mode (valid, schema-breaking)."""

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]

SKIP: dict[str, str] = {}
"""Operations not fuzzed yet, each with the reason; every entry is a bug someone owns."""


def _describe(exc: BaseException, depth: int = 0) -> str:
    """``exc`` for the failure report: its type and message (a Schemathesis check failure's
    title and message), its notes, where the app raised (the innermost frames of its cause),
    and so on for each exception it groups, recursively. A Hypothesis ``FlakyFailure`` or a
    Schemathesis ``FailureGroup`` says only that something failed; which check failed, and
    on what, is in the exceptions it holds."""
    while not str(exc) and exc.__cause__ is not None:  # Hypothesis wraps a BaseException
        exc = exc.__cause__
    lines = [f"{type(exc).__name__}: {exc}"]
    message = getattr(exc, "message", None)
    if isinstance(message, str) and message and message not in lines[0]:
        lines.append(message)
    # Hypothesis's note of the first call's traceback says again what its sub-exception says
    notes = getattr(exc, "__notes__", ())
    lines += [n for n in notes if not n.startswith("Failed to reproduce exception.")]
    if exc.__cause__ is not None:
        where = traceback.format_exception(exc.__cause__, limit=-8, chain=False)
        lines += ["Caused by:", "".join(where)]
    own = "\n".join("    " * depth + line for line in "\n".join(lines).splitlines())
    inner = exc.exceptions if isinstance(exc, BaseExceptionGroup) else ()
    return "\n".join([own, *(_describe(sub, depth + 1) for sub in inner)])


def _fuzz_operation(operation: Any, mode: GenerationMode, headers: dict[str, str]) -> None:
    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(
        max_examples=EXAMPLES,
        derandomize=True,
        database=None,
        deadline=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    def run(case: Any) -> None:
        try:
            response = case.call(headers=headers)
        except Exception as exc:  # the app raised: a 500 for the client
            curl = case.as_curl_command(headers=headers)
            raise AssertionError(f"500: {type(exc).__name__}: {exc}\n{curl}") from exc
        case.validate_response(response, checks=CHECKS, headers=headers)

    run()


@pytest.mark.slow
@pytest.mark.parametrize("role", sorted(ROLES))
def test_every_operation_survives_fuzzing(demo_env: DemoEnv, role: str) -> None:
    app = create_app(demo_env.settings)
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    failures: list[str] = []
    operations = 0
    try:
        for result in schema.get_all_operations():
            operation = result.ok()
            if operation.label in SKIP:
                continue
            operations += 1
            for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
                # A fresh token each time: the fuzzer may revoke the one it was given.
                headers = bearer_for(app, ROLES[role])
                try:
                    _fuzz_operation(operation, mode, headers)
                except Unsatisfiable:
                    assert mode is GenerationMode.NEGATIVE, operation.label
                    # Nothing to break: the operation takes no parameters and no body.
                except (Exception, BaseExceptionGroup) as exc:  # report all, not the first
                    label = f"--- {operation.label} ({mode.value}) as {role}"
                    failures.append(f"{label}\n{_describe(exc)}")
    finally:
        app.state.engine.dispose()
    assert operations > 40
    assert not failures, f"{len(failures)} failing operations:\n\n" + "\n\n".join(failures)
