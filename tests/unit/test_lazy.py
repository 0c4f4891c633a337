"""``lazy_exports``: a package's names imported from their module on first use."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

PLUGINS = Path(__file__).resolve().parents[2] / "plugins"


def test_a_name_is_imported_on_first_use_and_kept() -> None:
    probe = (
        "import sys, matinale.segment as s\n"
        "assert 'matinale.segment.build' not in sys.modules\n"
        "f = s.segment_supporters\n"
        "assert 'matinale.segment.build' in sys.modules\n"
        "assert s.__dict__['segment_supporters'] is f\n"
        "from matinale.segment import Definitions\n"
        "print('ok')\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe],
        capture_output=True,
        text=True,
        env={"PYTHONPATH": str(PLUGINS), "PATH": "/usr/bin:/bin"},
        timeout=120,
    )
    assert done.stdout.strip() == "ok", done.stderr


def test_an_unknown_name_is_an_attribute_error() -> None:
    import matinale.segment

    with pytest.raises(AttributeError, match="'matinale.segment' has no attribute 'nope'"):
        matinale.segment.nope  # noqa: B018
