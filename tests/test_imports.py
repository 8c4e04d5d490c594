"""Who may import whom, read from the source with ``ast`` (no module is imported).

Production code never imports the demo; the core capabilities never import the workflows
built on them (they would be set up through a small registry by the app factory instead).
"""

from __future__ import annotations

import ast
from pathlib import Path

import onceonly

ROOT = Path(onceonly.__file__).parent
CORE = ("exchange", "policy", "audit", "accounts", "catalog")
WORKFLOWS = ("cases", "citizens", "notify", "consolidate", "federation")


def _imports(path: Path) -> set[str]:
    """Every module ``path`` imports, at the top or inside a function."""
    tree = ast.parse(path.read_text("utf-8"), filename=str(path))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


def _modules(package: str = "") -> list[Path]:
    base = ROOT / package if package else ROOT
    return sorted(base.rglob("*.py"))


def _name(path: Path) -> str:
    return "onceonly." + ".".join(path.relative_to(ROOT).with_suffix("").parts)


def _offenders(paths: list[Path], forbidden: tuple[str, ...]) -> list[str]:
    bad = []
    for path in paths:
        for module in sorted(_imports(path)):
            if any(module == f or module.startswith(f + ".") for f in forbidden):
                bad.append(f"{_name(path)} imports {module}")
                break
    return bad


def _outside_demo() -> list[Path]:
    return [p for p in _modules() if p.relative_to(ROOT).parts[0] != "demo"]


def test_the_reader_sees_imports_inside_functions(tmp_path: Path) -> None:
    module = tmp_path / "m.py"
    module.write_text("def f():\n    from onceonly.demo.registries import x\n", "utf-8")
    assert "onceonly.demo.registries" in _imports(module)


def test_providers_and_connectors_do_not_import_the_demo() -> None:
    paths = _modules("providers") + _modules("connectors")
    assert _offenders(paths, ("onceonly.demo",)) == []


def test_no_module_outside_the_demo_imports_it() -> None:
    assert _offenders(_outside_demo(), ("onceonly.demo",)) == []


def test_the_core_imports_no_workflow() -> None:
    paths = [p for package in CORE for p in _modules(package)]
    assert _offenders(paths, tuple(f"onceonly.{w}" for w in WORKFLOWS)) == []
