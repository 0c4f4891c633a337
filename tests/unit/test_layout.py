"""The library's shape: one concern per module, small enough to read, public names declared."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LIBRARY = ROOT / "plugins" / "matinale"
MAX_LINES = 500


def _modules() -> list[Path]:
    return sorted(p for p in LIBRARY.rglob("*.py") if "__pycache__" not in p.parts)


def test_no_module_is_over_500_lines() -> None:
    long = {
        str(p.relative_to(LIBRARY)): n
        for p in _modules()
        if (n := len(p.read_text(encoding="utf-8").splitlines())) > MAX_LINES
    }
    assert long == {}, f"split these by concern (at most {MAX_LINES} lines): {long}"


def test_every_package_declares_its_public_names() -> None:
    missing = []
    for init in LIBRARY.rglob("__init__.py"):
        if "__pycache__" in init.parts or init.parent in {
            LIBRARY,
            LIBRARY / "airflow",
            LIBRARY / "dev",
        }:
            continue  # matinale, airflow/ and dev/ are namespaces of modules, not re-exporting packages
        tree = ast.parse(init.read_text(encoding="utf-8"))
        names = {
            t.id
            for node in tree.body
            if isinstance(node, ast.Assign | ast.AnnAssign)
            for t in (node.targets if isinstance(node, ast.Assign) else [node.target])
            if isinstance(t, ast.Name)
        }
        if "__all__" not in names:
            missing.append(str(init.relative_to(LIBRARY)))
    assert missing == [], f"these packages re-export without __all__: {missing}"


def test_every_module_says_what_it_is_for() -> None:
    bare = [
        str(p.relative_to(LIBRARY))
        for p in _modules()
        if p.stat().st_size and ast.get_docstring(ast.parse(p.read_text(encoding="utf-8"))) is None
    ]
    assert bare == [], f"add a module docstring to: {bare}"
