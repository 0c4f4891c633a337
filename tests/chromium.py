"""How every browser test launches Debian's Chromium: headless, and quiet on a closed network."""

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
