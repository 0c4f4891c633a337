"""The ``matinale`` command: sample data, validation, the local demo and the local stack."""

from __future__ import annotations

import argparse
import json
import os
import sys
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from matinale import retention_cli
from matinale.learn import commands as learn_commands
from matinale.links import commands as links_commands
from matinale.person import commands as person_commands
from matinale.territories import commands as territories_commands

if TYPE_CHECKING:
    from matinale.settings import Settings

__all__ = ["client_from_env", "command_parser", "main"]

# Exit codes of ``matinale validate``.
EXIT_VALID, EXIT_QUARANTINED, EXIT_NIGHT_WOULD_STOP = 0, 1, 2
# Exit codes of ``matinale check``.
EXIT_READY, EXIT_NOT_READY, EXIT_COULD_NOT_CHECK = 0, 1, 2
_SHOWN_PROBLEMS = 10


def _cmd_sample(args: argparse.Namespace) -> int:
    from matinale.dev.sample import write_sample

    path = write_sample(args.rows, args.seed, Path(args.out))
    print(f"Wrote {args.rows} sample supporters to {path}")
    return 0


def _validate_defaults() -> tuple[Any, float]:
    """The campaign's time zone and quarantine limit, or Paris and 20% without campaign.yaml."""
    from zoneinfo import ZoneInfo

    from matinale.ingest import DEFAULT_MAX_QUARANTINE_SHARE
    from matinale.settings import SettingsError, load_settings

    try:
        settings = load_settings()
    except SettingsError:
        return ZoneInfo("Europe/Paris"), DEFAULT_MAX_QUARANTINE_SHARE
    return settings.clocks.campaign_tz, settings.max_quarantine_share


def _validate(args: argparse.Namespace) -> tuple[dict[str, Any], Any]:
    """Run the night's ingest checks on ``args.file``; the summary and the result (or None)."""
    from matinale.ingest import IngestError, ingest_supporters
    from matinale.preflight import suppression_warning
    from matinale.privacy import SuppressionError, load_suppression

    zone, max_share = _validate_defaults()
    if args.max_quarantine_share is not None:
        max_share = args.max_quarantine_share
    summary: dict[str, Any] = {
        "file": str(args.file),
        "rows_read": None,
        "valid": None,
        "quarantined": None,
        "duplicates_merged": None,
        "suppressed": None,
        "repaired": None,
        "reasons": {},
        "max_quarantine_share": max_share,
        "error": None,
        "warnings": [],
    }
    try:
        reference = date.fromisoformat(args.on) if args.on else datetime.now(zone).date()
    except ValueError:
        summary["error"] = (
            f"--on {args.on!r} is not a date; write it as YYYY-MM-DD (e.g. 2026-11-24)"
        )
        return summary, None
    summary["reference_date"] = reference.isoformat()
    # As the night: a missing suppression folder suppresses nobody, with a warning (not a stop).
    missing = suppression_warning(Path(args.suppression)) if args.suppression else None
    if missing:
        summary["warnings"].append(missing)
    try:
        suppression = load_suppression(Path(args.suppression)) if args.suppression else None
        result = ingest_supporters(
            Path(args.file), reference_date=reference, suppression=suppression
        )
    except (IngestError, SuppressionError) as exc:
        summary["error"] = str(exc)
        return summary, None
    summary.update(result.summary())
    summary["error"] = result.stop_reason(max_share)
    return summary, result


def _print_validation(summary: dict[str, Any], result: Any) -> None:
    for warning in summary["warnings"]:
        print(f"Warning: {warning}")
    if result is None:
        print(f"{summary['file']}: the night would stop.\n  {summary['error']}")
        return
    source = summary["source"]
    kind = (
        "Parquet"
        if source["format"] == "parquet"
        else f"CSV, {source['encoding']}, separator {source['delimiter']!r}"
    )
    print(f"{source['source']} ({kind}), ages on {source['reference_date']}")
    share = summary["quarantined_share"]
    for label, key in (
        ("rows read", "rows_read"),
        ("valid", "valid"),
        ("quarantined", "quarantined"),
        ("merged duplicates", "duplicates_merged"),
        ("suppressed", "suppressed"),
        ("repaired values", "repaired"),
    ):
        extra = f"  ({share:.1%})" if key == "quarantined" and summary[key] else ""
        print(f"  {label:<18}{summary[key]:>10,}{extra}".replace(",", " "))
    if summary["repairs"]:
        print(
            "  repairs: "
            + ", ".join(f"{name} {count}" for name, count in summary["repairs"].items())
        )
    if summary["reasons"]:
        from matinale.ingest import REASONS

        print("Reasons:")
        for reason, count in summary["reasons"].items():
            print(f"  {reason:<24}{count:>8}  {REASONS.get(reason, '')}")
        print("First problems (line, column, masked value, reason):")
        for row in result.quarantine.head(_SHOWN_PROBLEMS).itertuples(index=False):
            print(f"  {row.line:>8}  {row.column or '(ligne)':<16} {row.value:<24} {row.reason}")
    if summary["error"]:
        print(f"The night would stop: {summary['error']}")


def _cmd_validate(args: argparse.Namespace) -> int:
    summary, result = _validate(args)
    if summary["error"]:
        code = EXIT_NIGHT_WOULD_STOP
    elif summary["quarantined"]:
        code = EXIT_QUARANTINED
    else:
        code = EXIT_VALID
    summary["exit_code"] = code
    if args.report:
        folder = Path(args.report)
        folder.mkdir(parents=True, exist_ok=True)
        if result is not None:
            (folder / "quarantine.csv").write_bytes(result.quarantine_csv())
        (folder / "summary.json").write_text(
            json.dumps(summary, ensure_ascii=False, indent=1) + "\n", encoding="utf-8"
        )
    if args.json:
        print(json.dumps(summary, ensure_ascii=False))
    else:
        _print_validation(summary, result)
    return code


def _cmd_check(args: argparse.Namespace) -> int:
    from matinale.preflight import check_project

    try:
        readiness = check_project(args.edition)
    except Exception as exc:  # a bug, or a project it cannot read: it could not check
        problem = f"could not check: {type(exc).__name__}: {exc}"
        if args.json:
            edition = args.edition.isoformat() if args.edition else None
            print(json.dumps({"edition": edition, "ready": False, "checks": [], "error": problem}))
        print(f"matinale check: {problem}", file=sys.stderr)
        return EXIT_COULD_NOT_CHECK
    if args.json:
        print(json.dumps(readiness.to_json(), ensure_ascii=False))
    else:
        print(readiness.text())
    return EXIT_READY if readiness.ready else EXIT_NOT_READY


def _cmd_demo(args: argparse.Namespace) -> int:
    from matinale.dev.local import run_demo

    return run_demo(rows=args.rows, seed=args.seed)


def _cmd_up(args: argparse.Namespace) -> int:
    from matinale.dev.local import run_up

    return run_up(s3_port=args.s3_port, ui_port=args.ui_port)


def client_from_env(settings: Settings, *, local_port: int = 8333) -> Any:
    """An S3 client for the CLI, from (in order) the Airflow connection in the environment
    (``AIRFLOW_CONN_AWS_DEFAULT`` as JSON), the ``AWS_*`` variables with
    ``MATINALE_S3_ENDPOINT_URL``, or the keys of the local server that ``make up`` runs."""
    from matinale.publish import PublishError, make_client

    raw = os.environ.get(f"AIRFLOW_CONN_{settings.aws_conn_id.upper()}", "")
    if raw.strip().startswith("{"):
        conn = json.loads(raw)
        extra = conn.get("extra") or {}
        extra = json.loads(extra) if isinstance(extra, str) else extra
        return make_client(
            extra.get("endpoint_url"),
            conn.get("login", ""),
            conn.get("password", ""),
            region=extra.get("region_name", "us-east-1"),
        )
    if os.environ.get("AWS_ACCESS_KEY_ID"):
        endpoint = (
            os.environ.get("MATINALE_S3_ENDPOINT_URL") or os.environ.get("AWS_ENDPOINT_URL") or None
        )
        return make_client(
            endpoint,
            os.environ["AWS_ACCESS_KEY_ID"],
            os.environ.get("AWS_SECRET_ACCESS_KEY", ""),
            region=os.environ.get("AWS_DEFAULT_REGION", "us-east-1"),
        )
    keys = settings.var_dir / "s3" / "credentials.json"
    if keys.is_file():
        from matinale.dev.s3_credentials import S3Credentials

        credentials = S3Credentials.load_or_create(keys)
        return make_client(
            f"http://127.0.0.1:{local_port}",
            credentials.access_key,
            credentials.secret_key,
            max_attempts=2,
        )
    raise PublishError(
        f"no S3 credentials: set AIRFLOW_CONN_{settings.aws_conn_id.upper()} (JSON) or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY "
        "and MATINALE_S3_ENDPOINT_URL, or start the local server with `make up`"
    )


def _cmd_editions(args: argparse.Namespace) -> int:
    from matinale.publish import list_editions, split_pointers
    from matinale.settings import load_settings

    settings = load_settings()
    client = client_from_env(settings)
    rows = list_editions(client, settings.bundle_bucket)
    if not rows:
        print(f"No edition in s3://{settings.bundle_bucket}/editions/ yet.")
        return 0
    width = max(len(r["run"]) for r in rows)
    print(f"{'edition':<10}  {'run':<{width}}  status")
    for row in rows:
        flag = "  SPLIT" if row.get("split") else ""
        print(f"{row['edition']:<10}  {row['run']:<{width}}  {row['status']}{flag}")
    splits = split_pointers(client, settings.bundle_bucket)
    for split in splits:
        print(f"SPLIT: {split}. Rerun publish (a retry of the run completes the move).")
    return 1 if splits else 0


def _cmd_rollback(args: argparse.Namespace) -> int:
    import getpass
    import logging

    from matinale.publish import rollback
    from matinale.settings import load_settings

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    settings = load_settings()
    actor = args.by or getpass.getuser()
    result = rollback(
        client_from_env(settings),
        settings.bundle_bucket,
        args.to,
        actor=actor,
        reason=args.reason,
        private_bucket=settings.private_bucket,
    )
    print(
        f"latest.json and editions/{result['edition']}/current.json now name run {result['run']} (by {actor})."
    )
    if result.get("links_expire_at"):
        print(
            f"Links inside its pages were presigned at publish time and expire at {result['links_expire_at']} (UTC)."
        )
    return 0


def _cmd_init(args: argparse.Namespace) -> int:
    from matinale.airflow.deploy import run_init

    users = (
        args.users or os.environ.get("AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS") or "admin:admin"
    )
    summary = run_init(
        Path(args.passwords_file),
        users=users,
        admin_password=os.environ.get("AIRFLOW_ADMIN_PASSWORD"),
        conn_json=os.environ.get("MATINALE_AWS_CONN_JSON"),
    )
    print(
        f"Logins: {', '.join(summary['users'])} (passwords in {args.passwords_file}); "
        f"connection {summary['connection']}; buckets created: {summary['buckets_created'] or 'none (both exist)'}"
    )
    return 0


def _cmd_stack_test(args: argparse.Namespace) -> int:
    from matinale.dev.stack import run_stack_test

    return run_stack_test(rows=args.rows, approval=args.approval == "on", keep=args.keep)


def _iso_date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a date: use YYYY-MM-DD, e.g. 2026-11-24"
        ) from exc


def _cmd_schedule(args: argparse.Namespace) -> int:
    from datetime import UTC, datetime, timedelta

    from matinale.schedule import edition_for, format_schedule, schedule_rows
    from matinale.settings import load_settings

    settings = load_settings()
    first = args.date_from or edition_for(datetime.now(UTC), settings.clocks)
    last = args.date_to or first + timedelta(days=13)
    if last < first:
        print(f"matinale schedule: --to {last} is before --from {first}", file=sys.stderr)
        return 2
    rows = schedule_rows(first, last, settings)
    print(format_schedule(rows, settings, markdown=args.markdown))
    changes = sum(row.offset_changed for row in rows)
    frozen = sum(row.freeze is not None for row in rows)
    print(
        f"\n{len(rows)} nights, {changes} offset change(s), {frozen} freeze night(s) (nothing published)."
    )
    return 0


def command_parser(
    prog: str, description: str
) -> tuple[argparse.ArgumentParser, argparse._SubParsersAction[argparse.ArgumentParser]]:
    """A parser whose first argument is a command, and the action to add the commands to."""
    parser = argparse.ArgumentParser(prog=prog, description=description)
    return parser, parser.add_subparsers(dest="command", required=True)


def build_parser() -> argparse.ArgumentParser:
    parser, commands = command_parser(
        "matinale", "Overnight content pipeline for campaigns, on Airflow."
    )

    sample = commands.add_parser(
        "sample", help="write a realistic sample supporter file (CSV or Parquet)"
    )
    sample.add_argument("--rows", type=int, default=20_000)
    sample.add_argument("--seed", type=int, default=42)
    sample.add_argument("--out", required=True, help="file to write: .csv or .parquet")
    sample.set_defaults(func=_cmd_sample)

    validate = commands.add_parser(
        "validate",
        help="check a supporter export as the night will (exit 0 all valid, 1 rows quarantined, 2 the night would stop)",
    )
    validate.add_argument(
        "file", help="the supporter file: CSV (any common encoding or separator) or Parquet"
    )
    validate.add_argument(
        "--suppression",
        help="suppression list file or folder (one e-mail, phone or SHA-256 per line)",
    )
    validate.add_argument(
        "--on",
        help="reference date for ages, YYYY-MM-DD (default: today in the campaign's time zone)",
    )
    validate.add_argument("--report", help="folder to write quarantine.csv and summary.json to")
    validate.add_argument(
        "--json", action="store_true", help="print one JSON object instead of text"
    )
    validate.add_argument(
        "--max-quarantine-share", type=float, help="stop share (default: campaign.yaml, else 0.2)"
    )
    validate.set_defaults(func=_cmd_validate)

    check = commands.add_parser(
        "check",
        help="pre-flight of tonight's inputs in seconds (exit 0 ready, 1 not ready, 2 could not check)",
    )
    check.add_argument("--json", action="store_true", help="print one JSON object instead of text")
    check.add_argument(
        "--edition",
        type=_iso_date,
        help="edition date, YYYY-MM-DD (default: the next one, Paris date of its morning)",
    )
    check.set_defaults(func=_cmd_check)

    demo = commands.add_parser(
        "demo", help="run the whole night locally through Airflow (make run)"
    )
    demo.add_argument("--rows", type=int, default=20_000)
    demo.add_argument("--seed", type=int, default=42)
    demo.set_defaults(func=_cmd_demo)

    up = commands.add_parser(
        "up", help="start the local S3 server and Airflow standalone until Ctrl-C (make up)"
    )
    up.add_argument("--s3-port", type=int, default=8333)
    up.add_argument("--ui-port", type=int, default=8080)
    up.set_defaults(func=_cmd_up)

    editions = commands.add_parser(
        "editions", help="list published editions and runs with their status"
    )
    editions.set_defaults(func=_cmd_editions)

    back = commands.add_parser(
        "rollback", help="move the pointers back to an earlier promoted run (kill switch)"
    )
    back.add_argument(
        "--to",
        required=True,
        metavar="DATE[/RUN]",
        help="e.g. 2026-11-23, or 2026-11-24/20261124T000102Z-3f9c",
    )
    back.add_argument("--reason", default="", help="why (kept in the history with your name)")
    back.add_argument("--by", default="", help="who (default: the current user)")
    back.set_defaults(func=_cmd_rollback)
    init = commands.add_parser(
        "init",
        help="deployment init after `airflow db migrate`: logins, the aws_default connection "
        "(from $MATINALE_AWS_CONN_JSON), the two buckets",
    )
    init.add_argument(
        "--passwords-file", required=True, help="SimpleAuthManager passwords file (JSON)"
    )
    init.add_argument(
        "--users", help="name:role pairs (default: $AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS)"
    )
    init.set_defaults(func=_cmd_init)

    stack = commands.add_parser(
        "stack-test",
        help="run the production topology natively (Postgres, Redis, Celery, SeaweedFS) and one night through it",
    )
    stack.add_argument("--rows", type=int, default=3_000)
    stack.add_argument("--approval", choices=["on", "off"], default="on")
    stack.add_argument(
        "--keep", action="store_true", help="keep the temporary folder (logs) after the run"
    )
    stack.set_defaults(func=_cmd_stack_test)

    schedule = commands.add_parser(
        "schedule",
        help="nights with start and deadline in the campaign zone, the team zone and UTC; offset changes and freezes",
    )
    schedule.add_argument(
        "--from",
        dest="date_from",
        type=_iso_date,
        help="first edition (Paris date); default: the next one",
    )
    schedule.add_argument(
        "--to", dest="date_to", type=_iso_date, help="last edition; default: two weeks after --from"
    )
    schedule.add_argument("--markdown", action="store_true", help="print a Markdown table")
    schedule.set_defaults(func=_cmd_schedule)
    person_commands.add_commands(commands)
    retention_cli.add_commands(commands)
    links_commands.add_commands(commands)  # links serve|rotate|stats, withdraw
    territories_commands.add_commands(commands)  # territories --top N [--json]
    learn_commands.add_commands(commands)  # simulate --nights N --segments N [--seed] [--json]
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command in {"editions", "rollback"}:
        from matinale.publish import PublishError

        try:
            return int(args.func(args) or 0)
        except PublishError as exc:
            print(f"matinale {args.command}: {exc}", file=sys.stderr)
            return 2
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
