"""How every browser test launches Debian's Chromium (the one definition: matinale.dev.chromium)."""

from matinale.dev.chromium import CHROMIUM, CHROMIUM_FLAGS, PHONE, launch_phone

__all__ = ["CHROMIUM", "CHROMIUM_FLAGS", "PHONE", "launch_phone"]
