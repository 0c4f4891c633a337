"""How every browser run launches Debian's Chromium: headless, and quiet on a closed network.

Used by the README's screenshots (``dev/screenshots.py``) and by the browser tests
(``tests/chromium.py``), so both start the browser the same way.
"""

__all__ = ["CHROMIUM", "CHROMIUM_FLAGS"]

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
