"""Rewrite the import-linter contracts in pyproject.toml from the apps on disk.

Each app's internal modules (everything but services, selectors, events and constants)
become forbidden to the other apps. Run after adding an app or an internal module;
tests/test_architecture.py checks the same rule on the live import graph.
"""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SRC = ROOT / "src" / "civicstack"
PUBLIC = {"services", "selectors", "events", "constants", "apps", "tests", "migrations"}
MARKER = "\n[[tool.importlinter.contracts]]"


def _apps() -> list[str]:
    return sorted(
        p.name for p in SRC.iterdir() if (p / "apps.py").exists() and p.name not in {"core", "conf"}
    )


def _internal_modules(app: str) -> list[str]:
    base = SRC / app
    names = []
    for path in sorted(base.iterdir()):
        if path.suffix == ".py" and path.stem != "__init__":
            names.append(path.stem)
        elif path.is_dir() and (path / "__init__.py").exists():
            names.append(path.name)
    return [name for name in names if name not in PUBLIC]


def _quoted(names: list[str]) -> str:
    return ", ".join(f'"{name}"' for name in names)


def main() -> None:
    """Regenerate the contracts section."""
    pyproject = ROOT / "pyproject.toml"
    text = pyproject.read_text()
    head = text.split(MARKER, 1)[0].rstrip("\n") + "\n"
    apps = _apps()
    blocks = [
        MARKER
        + '\nname = "The core kernel depends on no app"\ntype = "forbidden"\n'
        + 'source_modules = ["civicstack.core"]\n'
        + f"forbidden_modules = [{_quoted([f'civicstack.{a}' for a in apps])}]\n"
    ]
    for app in apps:
        internal = _internal_modules(app)
        if not internal:
            continue
        others = [f"civicstack.{a}" for a in apps if a != app]
        blocks.append(
            MARKER
            + f'\nname = "Other apps reach {app} only through its public modules"\n'
            + 'type = "forbidden"\n'
            + f"source_modules = [{_quoted(others)}]\n"
            + f"forbidden_modules = [{_quoted([f'civicstack.{app}.{m}' for m in internal])}]\n"
            + "allow_indirect_imports = true\n"
            + "# Tests may set up data through other apps' models.\n"
            + 'ignore_imports = ["civicstack.*.tests.** -> civicstack.**"]\n'
        )
    pyproject.write_text(head + "".join(blocks))


if __name__ == "__main__":
    main()
