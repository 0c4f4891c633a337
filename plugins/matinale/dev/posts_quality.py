"""The posts report of the README ("Posts an activist would share"), measured on a bundle.

``python -m matinale.dev.posts_quality BUNDLE_DIR [--json]`` reads every ``*/posts.json``
under a bundle folder (a run's ``bundle/`` in the work store, or a downloaded edition) and
prints, with :func:`matinale.content.quality.measure`, the share of posts breaking each rule,
how close social posts are to another band's and another profile's, and the SMS that carry
their message. The campaign (legal mentions, proper nouns, own site) is the project's.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

__all__ = ["main", "markdown"]


def _percent(share: float) -> str:
    return f"{share * 100:.1f} %".replace(".", ",")


def markdown(result: dict[str, Any]) -> str:
    """The README's two tables from :func:`measure`'s result."""
    lines = [f"| Share of all posts ({result['posts']:,}) breaking… | share |", "|---|---:|"]
    lines += [f"| {rule} | {_percent(share)} |" for rule, share in result["rules"].items()]
    similarity = result["similarity"]
    lines += [
        "",
        "| Social posts (X, Facebook, Instagram, WhatsApp) | share |",
        "|---|---:|",
        f"| closer than 0.7 to a post of another age band (target < 5 %) | {_percent(similarity['share_other_band'])} |",
        f"| closer than 0.7 to a post of another profile of the same band | {_percent(similarity['share_same_band'])} |",
        f"| SMS that carry a message | {result['sms_with_message']} |",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    from dataclasses import asdict

    from matinale.content.links import own_domain
    from matinale.content.posts import legal_lines
    from matinale.content.quality import measure
    from matinale.settings import load_settings

    parser = argparse.ArgumentParser(prog="python -m matinale.dev.posts_quality")
    parser.add_argument("bundle", type=Path, help="a bundle folder holding <segment>/posts.json")
    parser.add_argument("--json", action="store_true", help="print measure()'s result as JSON")
    args = parser.parse_args(argv)
    documents = [
        json.loads(path.read_text(encoding="utf-8"))
        for path in sorted(args.bundle.glob("*/posts.json"))
    ]
    if not documents:
        print(f"{args.bundle}: no <segment>/posts.json here", file=sys.stderr)
        return 2
    settings = load_settings()
    campaign = settings.campaign
    own = own_domain(campaign.website)
    result = measure(
        documents,
        legal=legal_lines(asdict(campaign)),
        proper_nouns=campaign.proper_nouns,
        campaign_hosts=(own,) if own else None,
    )
    print(json.dumps(result, ensure_ascii=False, indent=1) if args.json else markdown(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
