"""Meta-tests that keep the architecture honest.

- Every public service function records an audit event (directly or through another public
  service of the same module that does).
- Apps import each other only through services, selectors, events and constants.
- Migrations are complete.
"""

from __future__ import annotations

import ast
from io import StringIO
from pathlib import Path

import grimp
import pytest
from django.core.management import call_command

SRC = Path(__file__).resolve().parent.parent / "src" / "civicstack"
APPS = sorted(
    p.name
    for p in SRC.iterdir()
    if p.is_dir() and (p / "apps.py").exists() and p.name not in {"core", "conf"}
)
PUBLIC_MODULES = {"services", "selectors", "events", "constants"}
AUDIT_CALL = "audit_event_record"


def _service_modules() -> list[Path]:
    return sorted(SRC.glob("*/services.py"))


def _calls(node: ast.AST) -> set[str]:
    names = set()
    for child in ast.walk(node):
        if isinstance(child, ast.Call):
            func = child.func
            if isinstance(func, ast.Name):
                names.add(func.id)
            elif isinstance(func, ast.Attribute):
                names.add(func.attr)
    return names


def _unaudited_services(path: Path) -> list[str]:
    tree = ast.parse(path.read_text())
    functions = {
        node.name: node
        for node in tree.body
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
    }
    audited: set[str] = set()
    # A function is audited if it calls the audit log, or calls a function of the module
    # that is; iterate to a fixed point so helpers that record on their behalf count.
    changed = True
    while changed:
        changed = False
        for name, node in functions.items():
            if name in audited:
                continue
            calls = _calls(node)
            if AUDIT_CALL in calls or calls & audited:
                audited.add(name)
                changed = True
    public = [
        name for name, node in functions.items() if not name.startswith("_") and not _is_pure(node)
    ]
    return [name for name in public if name not in audited]


MUTATING_CALLS = {
    "save",
    "create",
    "update",
    "delete",
    "bulk_create",
    "bulk_update",
    "get_or_create",
    "update_or_create",
    "set",
    "add",
    "remove",
    "clear",
    "send_mail",
    "enqueue",
}


def _is_pure(node: ast.FunctionDef | ast.AsyncFunctionDef) -> bool:
    """Return True for read-only helpers: documented as returning and calling no writes."""
    docstring = ast.get_docstring(node) or ""
    reads = docstring.startswith(("Return ", "Check ", "Validate "))
    return reads and not (_calls(node) & MUTATING_CALLS)


@pytest.mark.parametrize("path", _service_modules(), ids=lambda p: p.parent.name)
def test_every_public_service_records_an_audit_event(path: Path) -> None:
    """Each public function in services.py that changes data writes to the audit log."""
    assert _unaudited_services(path) == []


def test_the_audit_meta_test_can_fail(tmp_path: Path) -> None:
    """A service that writes without auditing is caught by the meta-test."""
    module = tmp_path / "services.py"
    module.write_text(
        "def thing_create(*, actor):\n"
        '    """Create a thing."""\n'
        "    Thing.objects.create()\n"
        "def thing_count():\n"
        '    """Return how many things there are, and sneak a write in."""\n'
        "    Thing.objects.update(n=1)\n"
        "def thing_update(*, actor):\n"
        '    """Update a thing."""\n'
        "    audit_event_record(action='x', actor=actor)\n"
    )
    assert _unaudited_services(module) == ["thing_create", "thing_count"]


def _cross_app_violations() -> list[str]:
    graph = grimp.build_graph("civicstack")
    problems = []
    for importer in sorted(graph.modules):
        parts = importer.split(".")
        if len(parts) < 2 or parts[1] not in APPS or "tests" in parts:
            # Tests may set up data through other apps' models; app code may not.
            continue
        for imported in graph.find_modules_directly_imported_by(importer):
            target = imported.split(".")
            if len(target) < 3 or target[0] != "civicstack":
                continue
            if target[1] == parts[1] or target[1] not in APPS:
                continue
            if target[2] not in PUBLIC_MODULES:
                problems.append(f"{importer} -> {imported}")
    return problems


def test_apps_import_each_other_only_through_public_modules() -> None:
    """No app imports another app's models, views, forms or other internals."""
    assert _cross_app_violations() == []


@pytest.mark.django_db
def test_migrations_are_complete() -> None:
    """Every model change has a migration."""
    out = StringIO()
    call_command("makemigrations", "--check", "--dry-run", stdout=out)
