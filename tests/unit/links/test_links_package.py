"""The link service package loads its web stack only when the service is asked for."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

PLUGINS = Path(__file__).resolve().parents[3] / "plugins"
WEB = ("fastapi", "starlette", "uvicorn", "sqlalchemy")


def _loaded_after(code: str) -> list[str]:
    probe = f"import sys, json\n{code}\nprint(json.dumps([m for m in {WEB!r} if m in sys.modules]))"
    done = subprocess.run(
        [sys.executable, "-c", probe],
        capture_output=True,
        text=True,
        check=True,
        env={"PYTHONPATH": str(PLUGINS), "PATH": "/usr/bin:/bin"},
        timeout=120,
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_the_night_and_publish_do_not_load_the_service() -> None:
    # Every content task imports matinale.links.short, and checks and publish import
    # matinale.publish: none of them serves links.
    assert (
        _loaded_after(
            "import matinale.links.short, matinale.links.codes, matinale.publish, "
            "matinale.checks, matinale.night.posts"
        )
        == []
    )


def test_the_package_still_exports_the_service() -> None:
    loaded = _loaded_after(
        "from matinale.links import LinkState, Tuning, create_app, migrate\n"
        "assert callable(create_app) and LinkState.__module__ == 'matinale.links.state'"
    )
    assert "fastapi" in loaded


def test_an_unknown_name_is_an_attribute_error() -> None:
    import matinale.links

    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        matinale.links.nope  # noqa: B018
