"""``python -m matinale.schemas``: regenerate the configuration files' JSON Schemas."""

from __future__ import annotations

from matinale.schemas import MODELS, write_all


def main() -> int:
    changed = write_all()
    for path in changed:
        print(f"wrote {path}")
    print(f"{len(MODELS)} schema(s), {len(changed)} changed")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
