"""``matinale retention [--dry-run]``: the retention DAG's purge, from a shell.

The very same :func:`matinale.retention.purge` the ``matinale_retention`` DAG runs at noon
(and ``make up`` runs once at start): per-person files past their retention, old published
editions and never-promoted runs in the bundle bucket. Counts only, never a name or a path
of a person's file.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any

from matinale.errors import MatinaleError

if TYPE_CHECKING:
    from matinale.s3types import S3Client
    from matinale.settings import Settings

__all__ = ["add_commands", "describe", "purge_at_start"]


def _today(settings: Settings) -> date:
    return datetime.now(UTC).astimezone(settings.clocks.campaign_tz).date()


def describe(report: dict[str, Any]) -> list[str]:
    """The report in a few lines of English (counts only)."""
    verb = "would delete" if report["dry_run"] else "deleted"
    rule = (
        "campaign ended: every per-person file"
        if report["rule"] == "campaign_end"
        else f"keeping editions from {report['keep_editions_from']}"
    )
    lines = [
        f"Retention on {report['today']} ({rule}){' — dry run, nothing deleted' if report['dry_run'] else ''}:",
        f"  {verb} {report['files_deleted']} private file(s) in {report['runs_purged']} of "
        f"{report['runs_with_private_files']} run(s), {report['delivery_files_deleted']} delivery "
        f"file(s), {report['inbox_files_deleted']} inbox file(s)",
    ]
    if "editions_deleted" in report:
        kept = report["keep_published_from"] or "any date (published_editions_days: null)"
        lines.append(
            f"  bundle bucket (keeping editions from {kept}): {verb} {report['editions_deleted']} "
            f"edition(s) ({report['edition_objects_deleted']} object(s)), "
            f"{report['unpromoted_runs_deleted']} never-promoted run(s) "
            f"({report['unpromoted_objects_deleted']} object(s))"
        )
        if report["bundle_skipped"]:
            lines.append(f"  bundle bucket skipped: {report['bundle_skipped']}")
    else:
        lines.append("  no S3 client: delivery files and the bundle bucket were not looked at")
    return lines


def _client(settings: Settings) -> S3Client | None:
    """The CLI's S3 client; None when there is none and the work store is a local folder."""
    from matinale.cli import client_from_env
    from matinale.publish import PublishError

    try:
        return client_from_env(settings)  # type: ignore[no-any-return]
    except PublishError:
        if settings.work_store == "s3":
            raise
        return None


def _cmd_retention(args: argparse.Namespace) -> int:
    from matinale.night import make_store
    from matinale.retention import purge
    from matinale.settings import load_settings

    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(message)s")
    try:
        settings = load_settings()
        client = _client(settings)
        report = purge(
            make_store(settings, client),
            settings,
            today=args.today or _today(settings),
            dry_run=args.dry_run,
            client=client,
        )
    except MatinaleError as exc:
        print(f"matinale retention: {exc}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(report, indent=1, sort_keys=True))
    else:
        print("\n".join(describe(report)))
    return 0


def purge_at_start(settings: Settings, client: S3Client) -> None:
    """``make up``: run the purge once and print its counts; a failure is only reported."""
    from botocore.exceptions import BotoCoreError, ClientError

    from matinale.night import make_store
    from matinale.retention import purge

    try:
        report = purge(
            make_store(settings, client), settings, today=_today(settings), client=client
        )
    except (MatinaleError, BotoCoreError, ClientError) as exc:
        print(f"Retention: not applied ({type(exc).__name__}: {exc})", flush=True)
        return
    print("\n".join(describe(report)), flush=True)


def add_commands(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``retention`` to the ``matinale`` command."""
    retention = subparsers.add_parser(
        "retention",
        help="apply the retention purge now, as the matinale_retention DAG does (counts only)",
    )
    retention.add_argument(
        "--dry-run", action="store_true", help="count what would be deleted; delete nothing"
    )
    retention.add_argument(
        "--today",
        type=date.fromisoformat,
        help="the date ages count from, YYYY-MM-DD (default: today in the campaign's time zone)",
    )
    retention.add_argument(
        "--json", action="store_true", help="print the report as one JSON object"
    )
    retention.set_defaults(func=_cmd_retention)
