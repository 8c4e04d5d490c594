"""The exchange and the policy (core) ask the workflows built on them through protocols the
app factory wires (``CaseLookup``, ``PreviewBook``); they import none of them."""

from __future__ import annotations

import ast
from pathlib import Path

import onceonly

WORKFLOWS = ("cases", "citizens", "notify", "consolidate", "counter", "owners", "demo")
ROOT = Path(onceonly.__file__).parent


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text("utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
        elif isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
    return names


def test_exchange_and_policy_import_no_workflow_package() -> None:
    found = {
        f"{path.relative_to(ROOT)}: {name}"
        for package in ("exchange", "policy")
        for path in sorted((ROOT / package).rglob("*.py"))
        for name in _imports(path)
        if any(name == f"onceonly.{w}" or name.startswith(f"onceonly.{w}.") for w in WORKFLOWS)
    }
    assert found == set()
