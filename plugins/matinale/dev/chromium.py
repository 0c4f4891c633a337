"""How every browser run launches Debian's Chromium: headless, and quiet on a closed network.

Used by the README's screenshots (``dev/screenshots.py``) and by the browser tests
(``tests/chromium.py``), so both start the browser the same way.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

__all__ = ["CHROMIUM", "CHROMIUM_FLAGS", "PHONE", "launch_phone"]

CHROMIUM = "/usr/bin/chromium"
# Without the networking flags Chromium floods the closed network with background requests.
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

PHONE = {"width": 390, "height": 844}
"""The activists' phone: the viewport of every page test and screenshot."""


def launch_phone(playwright: Any, profile: str | Path, *, scale: float = 2) -> Any:
    """A persistent Chromium context the size of a phone (touch, French): the page tests'
    and the README screenshots' (``scale`` 1 keeps screenshots small)."""
    return playwright.chromium.launch_persistent_context(
        str(profile),
        executable_path=CHROMIUM,
        args=CHROMIUM_FLAGS,
        viewport=PHONE,
        device_scale_factor=scale,
        is_mobile=True,
        has_touch=True,
        locale="fr-FR",
    )
