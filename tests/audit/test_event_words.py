"""Every kind of audit entry the code can write is named in words on the audit log page
(``audit.event.<kind>``, both languages); a kind without them showed as its bare code there
(``case.notice_sent``, ``notify.register_check``).

The kinds are read from the source, not listed by hand: an ``AuditRecord(event=...)`` names
one directly, by a constant, or through the parameters of the functions that build records
(``CaseActor.audit_record(case, "case.x", ...)``, ``audit_rule_event(..., "approved")`` making
``rule.approved``), followed back to every call that gives them a value."""

from __future__ import annotations

import ast
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import onceonly
from onceonly.i18n import LANGUAGES, catalogue

SOURCE = Path(onceonly.__file__).parent
RECORD_MODULE = "onceonly.audit.log"

Wrap = Callable[[str], str]


def _same(value: str) -> str:
    return value


@dataclass(frozen=True)
class Module:
    name: str
    path: Path
    tree: ast.Module
    parents: dict[ast.AST, ast.AST]
    imported: dict[str, str]
    """Each local name and the dotted name it was imported as."""


@dataclass(frozen=True)
class Sink:
    """A callable one of whose parameters becomes the ``event`` of an audit entry."""

    module: str
    name: str
    position: int | None
    """Its place among the arguments of a call (``None``: keyword only)."""
    keyword: str
    method: bool
    """Called on an instance (``actor.audit_record(...)``): matched by name, which must be
    the only definition of that name in the source."""
    wrap: Wrap = field(default=_same, compare=False)
    """What the entry's event is made of the value given (``rule.{event}``)."""


@cache
def modules() -> dict[str, Module]:
    found = {}
    for path in sorted(SOURCE.rglob("*.py")):
        parts = path.relative_to(SOURCE.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        tree = ast.parse(path.read_text("utf-8"), str(path))
        parents = {child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}
        imported: dict[str, str] = {}
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                for alias in node.names:
                    imported[alias.asname or alias.name] = f"{node.module}.{alias.name}"
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.asname:
                        imported[alias.asname] = alias.name
        found[name] = Module(name, path, tree, parents, imported)
    return found


def _where(module: Module, node: ast.AST) -> str:
    return f"{module.path.relative_to(SOURCE.parent)}:{getattr(node, 'lineno', '?')}"


def _calls_to(sink: Sink) -> Iterator[tuple[Module, ast.Call]]:
    target = f"{sink.module}.{sink.name}"
    for module in modules().values():
        for node in ast.walk(module.tree):
            if not isinstance(node, ast.Call):
                continue
            callee = node.func
            if sink.method:
                hit = isinstance(callee, ast.Attribute) and callee.attr == sink.name
            elif isinstance(callee, ast.Name):
                hit = module.imported.get(callee.id) == target or (
                    module.name == sink.module and callee.id == sink.name
                )
            else:
                hit = (
                    isinstance(callee, ast.Attribute)
                    and callee.attr == sink.name
                    and isinstance(callee.value, ast.Name)
                    and module.imported.get(callee.value.id) == sink.module
                )
            if hit:
                yield module, node


def _argument(sink: Sink, call: ast.Call) -> ast.expr | None:
    for keyword in call.keywords:
        if keyword.arg == sink.keyword:
            return keyword.value
    if sink.position is not None and sink.position < len(call.args):
        argument = call.args[sink.position]
        return None if isinstance(argument, ast.Starred) else argument
    return None


def _enclosing(module: Module, node: ast.AST) -> Iterator[ast.FunctionDef | ast.AsyncFunctionDef]:
    while node in module.parents:
        node = module.parents[node]
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            yield node


def _module_level(module: Module, name: str) -> ast.expr | None:
    for statement in module.tree.body:
        if isinstance(statement, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == name for t in statement.targets
        ):
            return statement.value
        if (
            isinstance(statement, ast.AnnAssign)
            and isinstance(statement.target, ast.Name)
            and statement.target.id == name
        ):
            return statement.value
    return None


class Events:
    """The event kinds found, each with where; and what could not be followed."""

    def __init__(self) -> None:
        self.found: dict[str, set[str]] = {}
        self.unresolved: list[str] = []
        self.sinks: list[Sink] = []

    def collect(self) -> Events:
        self.follow(Sink(RECORD_MODULE, "AuditRecord", None, "event", method=False))
        return self

    def follow(self, sink: Sink) -> None:
        if sink in self.sinks:
            return
        self.sinks.append(sink)
        for module, call in _calls_to(sink):
            argument = _argument(sink, call)
            if argument is None:
                self.unresolved.append(f"{_where(module, call)}: no event given to {sink.name}")
            else:
                self.resolve(module, argument, sink.wrap)

    def add(self, value: str, module: Module, node: ast.AST) -> None:
        self.found.setdefault(value, set()).add(_where(module, node))

    def resolve(self, module: Module, expr: ast.expr, wrap: Wrap) -> None:
        if isinstance(expr, ast.Constant) and isinstance(expr.value, str):
            self.add(wrap(expr.value), module, expr)
            return
        if isinstance(expr, ast.IfExp):
            self.resolve(module, expr.body, wrap)
            self.resolve(module, expr.orelse, wrap)
            return
        followed = (isinstance(expr, ast.JoinedStr) and self._template(module, expr, wrap)) or (
            isinstance(expr, ast.Name) and self._name(module, expr, wrap)
        )
        if not followed:
            self.unresolved.append(f"{_where(module, expr)}: {ast.unparse(expr)}")

    def _template(self, module: Module, expr: ast.JoinedStr, wrap: Wrap) -> bool:
        """``f"rule.{event}"``: one value, with words either side."""
        holes = [i for i, part in enumerate(expr.values) if isinstance(part, ast.FormattedValue)]
        if len(holes) != 1:
            return False
        (hole,) = holes
        texts = [str(p.value) if isinstance(p, ast.Constant) else "" for p in expr.values]
        before, after = "".join(texts[:hole]), "".join(texts[hole + 1 :])
        value = expr.values[hole]
        assert isinstance(value, ast.FormattedValue)
        self.resolve(module, value.value, lambda v: wrap(before + v + after))
        return True

    def _name(self, module: Module, expr: ast.Name, wrap: Wrap) -> bool:
        """A parameter (followed to the calls), a local or a constant."""
        for function in _enclosing(module, expr):
            if self._parameter(module, function, expr.id, wrap):
                return True
            assigned = [
                (target, node.value)
                for node in ast.walk(function)
                if isinstance(node, ast.Assign)
                for target in node.targets
            ]
            if any(self._assigned(module, function, t, v, expr.id, wrap) for t, v in assigned):
                return True
        value = _module_level(module, expr.id)
        if value is not None:
            self.resolve(module, value, wrap)
            return True
        origin = module.imported.get(expr.id, "")
        home, _, name = origin.rpartition(".")
        if home in modules() and (value := _module_level(modules()[home], name)) is not None:
            self.resolve(modules()[home], value, wrap)
            return True
        return False

    def _parameter(
        self,
        module: Module,
        function: ast.FunctionDef | ast.AsyncFunctionDef,
        name: str,
        wrap: Wrap,
    ) -> bool:
        arguments = function.args
        positional = [a.arg for a in (*arguments.posonlyargs, *arguments.args)]
        if name not in positional and name not in [a.arg for a in arguments.kwonlyargs]:
            return False
        method = bool(positional) and positional[0] in ("self", "cls")
        if method:
            positional = positional[1:]
            others = [
                n
                for m in modules().values()
                for n in ast.walk(m.tree)
                if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef) and n.name == function.name
            ]
            assert len(others) == 1, f"{function.name} is defined {len(others)} times"
        position = positional.index(name) if name in positional else None
        self.follow(Sink(module.name, function.name, position, name, method, wrap))
        return True

    def _assigned(
        self,
        module: Module,
        function: ast.FunctionDef | ast.AsyncFunctionDef,
        target: ast.expr,
        value: ast.expr,
        name: str,
        wrap: Wrap,
    ) -> bool:
        """``event = ...``, or ``function, event = TABLE[key]`` where TABLE is a dict of
        tuples written out (in the function or the module)."""
        if isinstance(target, ast.Name) and target.id == name:
            self.resolve(module, value, wrap)
            return True
        if not isinstance(target, ast.Tuple):
            return False
        names = [e.id if isinstance(e, ast.Name) else None for e in target.elts]
        if name not in names or not isinstance(value, ast.Subscript):
            return False
        table = value.value
        if not isinstance(table, ast.Name):
            return False
        local = [
            n.value
            for n in ast.walk(function)
            if isinstance(n, ast.Assign)
            and any(isinstance(t, ast.Name) and t.id == table.id for t in n.targets)
        ]
        written = local[0] if local else _module_level(module, table.id)
        if not isinstance(written, ast.Dict):
            return False
        index = names.index(name)
        for row in written.values:
            if not isinstance(row, ast.Tuple):
                return False
            self.resolve(module, row.elts[index], wrap)
        return True


@cache
def events() -> Events:
    return Events().collect()


KNOWN = {
    "evidence.request",  # a record's event written out
    "notify.register_check",  # a constant
    "case.carried_read",  # a constant given to CaseActor.audit_record
    "case.notice_sent",
    "case.relay",  # through a function's parameter
    "consent.granted",  # through consents._log, called as an attribute of its module
    "preview.declined",  # one branch of a conditional
    "rule.requested",  # f"rule.{event}"
    "rule.approved",  # a table of (function, event) in a route factory's closure
    "account.disabled",
}


def test_the_kinds_are_found_in_the_source() -> None:
    found = events()
    assert not found.unresolved, (
        "audit events named in a way this test cannot follow: name them by a string, a "
        "constant or a parameter\n" + "\n".join(found.unresolved)
    )
    assert set(found.found) >= KNOWN, sorted(KNOWN - set(found.found))
    assert all("." in kind and kind == kind.strip() for kind in found.found), found.found


def test_every_kind_of_entry_is_named_in_both_languages() -> None:
    messages = catalogue()
    missing = [
        f"audit.event.{kind} ({', '.join(sorted(where))})"
        for kind, where in sorted(events().found.items())
        if f"audit.event.{kind}" not in messages
    ]
    assert not missing, "no words for these audit events:\n" + "\n".join(missing)
    for kind in events().found:
        texts = messages[f"audit.event.{kind}"]
        assert all(texts[lang].strip() for lang in LANGUAGES), kind
        assert kind not in texts.values(), kind


def test_the_sinks_are_what_builds_records() -> None:
    """The functions whose parameter the walk followed: a guard on the walk itself."""
    names = {sink.name for sink in events().sinks}
    assert {"AuditRecord", "audit_record", "_log", "audit_rule_event"} <= names, names
