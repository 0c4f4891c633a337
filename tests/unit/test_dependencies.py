"""Every module the library, the DAGs and the tests import is declared in pyproject.toml.

A module that only arrives with another package (numpy with pandas, botocore with boto3)
works until that package drops it: what our code imports, pyproject names and pins.
"""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from importlib.metadata import packages_distributions
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# Test helpers imported by name from tests/ (pytest puts their folders on sys.path).
LOCAL_TEST_MODULES = {
    "bundle_samples",
    "chromium",
    "links_live",
    "project_copy",
    "segment_samples",
    "visuals_samples",
}


def _top_level_imports(target: Path) -> dict[str, Path]:
    """Top-level module names imported in a file or under a folder, each with one place."""
    found: dict[str, Path] = {}
    for path in [target] if target.is_file() else sorted(target.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                found.setdefault(name.split(".")[0], path)
    return found


def _declared(extras: tuple[str, ...], pyproject: Path) -> set[str]:
    project = tomllib.loads(pyproject.read_text(encoding="utf-8"))["project"]
    requirements = list(project["dependencies"])
    for extra in extras:
        requirements += project["optional-dependencies"][extra]
    return {
        re.split(r"[<>=!~\[ ;]", r, maxsplit=1)[0].lower().replace("_", "-") for r in requirements
    }


def _undeclared(folder: Path, extras: tuple[str, ...], root: Path = ROOT) -> list[str]:
    distributions = packages_distributions()
    declared = _declared(extras, ROOT / "pyproject.toml")
    missing = []
    for module, path in _top_level_imports(folder).items():
        if module in sys.stdlib_module_names or module in {
            "matinale",
            "matinale_airflow",
            "__future__",
        }:
            continue
        if module in LOCAL_TEST_MODULES:
            continue
        names = {d.lower().replace("_", "-") for d in distributions.get(module, [module])}
        if not names & declared:
            missing.append(
                f"{module} ({', '.join(sorted(names))}), imported in {path.relative_to(root)}"
            )
    return sorted(missing)


def test_the_night_imports_only_declared_packages() -> None:
    # The production image installs the main dependencies and the stack extra only.
    for target in (ROOT / "dags", ROOT / "plugins" / "matinale_airflow.py"):
        assert _undeclared(target, ("stack",)) == [], target
    library = [
        m
        for m in _undeclared(ROOT / "plugins" / "matinale", ("stack",))
        if "plugins/matinale/dev/" not in m and "plugins/matinale/cli.py" not in m
    ]
    assert library == [], "declare these in [project] dependencies of pyproject.toml"


def test_dev_tools_and_tests_import_only_declared_packages() -> None:
    extras = ("stack", "local", "test")
    assert _undeclared(ROOT / "plugins", extras) == []
    assert _undeclared(ROOT / "tests", extras) == []


def test_the_check_sees_an_undeclared_import(tmp_path: Path) -> None:
    (tmp_path / "sneaky.py").write_text("import yaml\nfrom idna import encode\n", encoding="utf-8")
    missing = _undeclared(tmp_path, ("stack", "local", "test"), root=tmp_path)
    assert missing == ["idna (idna), imported in sneaky.py"], missing
