"""The night never imports the developer tools (``matinale.dev``): they are not in production.

Two checks: a scan of every import statement outside ``dev/`` (and ``cli.py``, whose dev
commands import their tools lazily), and a fresh interpreter that imports the DAG files, the
Airflow plugin and every night module, then finds no ``matinale.dev`` module loaded.
"""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
PLUGINS = ROOT / "plugins"
PACKAGE = PLUGINS / "matinale"
# The developer tools, and their old top-level names (which must not come back).
DEV_MODULES = (
    "matinale.dev",
    "matinale.local",
    "matinale.seaweed",
    "matinale.sample",
    "matinale.stack",
    "matinale.bench",
)
# Files allowed to name the dev tools: the tools themselves and the CLI's commands (lazily,
# inside the commands that need them: the local S3 when no other is configured).
ALLOWED = {PACKAGE / "cli.py", PACKAGE / "person" / "commands.py"}


def _is_dev(module: str) -> bool:
    return any(module == name or module.startswith(name + ".") for name in DEV_MODULES)


def _night_files() -> list[Path]:
    """Every Python file the night or Airflow may load: the package outside dev/, the plugin, the DAGs."""
    files = [
        p for p in PACKAGE.rglob("*.py") if (PACKAGE / "dev") not in p.parents and p not in ALLOWED
    ]
    return sorted([*files, *PLUGINS.glob("*.py"), *(ROOT / "dags").glob("*.py")])


def _module_of(path: Path, plugins: Path) -> str:
    relative = path.relative_to(plugins).with_suffix("")
    parts = relative.parts[:-1] if relative.name == "__init__" else relative.parts
    return ".".join(parts)


def _imported(path: Path, plugins: Path = PLUGINS) -> list[tuple[int, str]]:
    """``(line, module)`` for every import in ``path``, relative ones resolved, at any depth."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    package = _module_of(path, plugins) if plugins in path.parents else ""
    if package and path.name != "__init__.py":
        package = package.rsplit(".", 1)[0]
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            found.append((node.lineno, base))
            # `from matinale import dev` imports a module too.
            found += [(node.lineno, f"{base}.{alias.name}") for alias in node.names]
    return found


def test_no_night_module_imports_dev_code() -> None:
    files = _night_files()
    assert PACKAGE / "night.py" in files or (PACKAGE / "night").is_dir()
    offending = [
        f"{path.relative_to(ROOT)}:{line}: {module}"
        for path in files
        for line, module in _imported(path)
        if _is_dev(module)
    ]
    assert offending == [], "the night imports developer tools:\n" + "\n".join(offending)


def test_the_scan_sees_relative_and_package_imports(tmp_path: Path) -> None:
    """The scan itself: every spelling of a dev import is caught."""
    probe = tmp_path / "plugins" / "matinale" / "airflow" / "probe.py"
    probe.parent.mkdir(parents=True)
    probe.write_text(
        "from ..dev import local\nfrom matinale import sample\nimport matinale.dev.seaweed\nfrom . import glue\n",
        encoding="utf-8",
    )
    modules = [module for _, module in _imported(probe, tmp_path / "plugins")]
    assert [m for m in modules if _is_dev(m)] == [
        "matinale.dev",
        "matinale.dev.local",
        "matinale.sample",
        "matinale.dev.seaweed",
    ]
    assert "matinale.airflow.glue" in modules
    assert not _is_dev("matinale.devices")


_IMPORT_THE_NIGHT = r"""
import importlib, json, runpy, sys
from pathlib import Path

modules, plugin_files, dag_files = json.loads(sys.argv[1])
for name in modules:
    importlib.import_module(name)
for path in [*plugin_files, *dag_files]:
    runpy.run_path(path)
print(json.dumps(sorted(m for m in sys.modules if m.startswith("matinale"))))
"""


def test_importing_the_dags_and_every_night_module_loads_no_dev_code() -> None:
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(
            filter(None, [str(PLUGINS), os.environ.get("PYTHONPATH", "")])
        ),
    }
    package_files = [p for p in _night_files() if PACKAGE in p.parents]
    modules = sorted(_module_of(p, PLUGINS) for p in package_files)
    # pkgutil.walk_packages would import matinale.dev itself to look inside: list files instead.
    spec = [
        modules,
        [str(p) for p in sorted(PLUGINS.glob("*.py"))],
        [str(p) for p in sorted((ROOT / "dags").glob("*.py"))],
    ]
    done = subprocess.run(
        [sys.executable, "-c", _IMPORT_THE_NIGHT, json.dumps(spec)],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    loaded = json.loads(done.stdout.strip().splitlines()[-1])
    assert {"matinale.night", "matinale.airflow.glue", "matinale.publish", *modules} <= set(loaded)
    assert [m for m in loaded if _is_dev(m)] == []
