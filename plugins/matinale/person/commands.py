"""``matinale person find`` and ``matinale person erase``: GDPR articles 15 and 17 from the CLI.

The person's values are printed to the operator's terminal (``print``), never logged; the
log gets counts. S3 is reached as the other CLI commands reach it (the Airflow connection or
``AWS_*`` in the environment, e.g. under compose); on the local setup the server ``make up``
runs is used, or one is started for the command and stopped after.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
from collections.abc import Iterator
from datetime import datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from matinale.settings import Settings

__all__ = ["add_commands"]

EXIT_OK, EXIT_REFUSED = 0, 2


def add_commands(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """``person find`` and ``person erase``."""
    person = subparsers.add_parser(
        "person", help="people's rights (GDPR art. 15 and 17): find or erase one person"
    )
    actions = person.add_subparsers(dest="action", required=True)
    find = actions.add_parser(
        "find", help="every place Matinale holds the person, with fields and dates"
    )
    erase = actions.add_parser(
        "erase", help="remove the person everywhere and add them to the suppression list"
    )
    for parser in (find, erase):
        who = parser.add_mutually_exclusive_group(required=True)
        who.add_argument("--email", help="the person's e-mail address")
        who.add_argument("--phone", help="the person's phone number (any common spelling)")
        who.add_argument("--id", dest="supporter_id", help="the person's supporter_id")
        parser.add_argument("--json", action="store_true", help="print one JSON object")
    erase.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    find.set_defaults(func=_cmd_find)
    erase.set_defaults(func=_cmd_erase)


@contextlib.contextmanager
def _s3_client(settings: Settings) -> Iterator[Any]:
    """The configured S3, else the local setup's (started if needed), else None."""
    configured = os.environ.get(f"AIRFLOW_CONN_{settings.aws_conn_id.upper()}", "").strip()
    if configured or os.environ.get("AWS_ACCESS_KEY_ID"):
        from matinale.cli import client_from_env

        yield client_from_env(settings)
    elif (settings.var_dir / "s3" / "credentials.json").is_file():
        # The developer tools, lazily and only on the local setup, as cli.py's dev commands
        # import them: the night never reaches this module (tests/unit/dev/test_dev_boundary.py).
        from matinale.dev.local import local_s3_client

        with local_s3_client(settings) as client:
            yield client
    else:
        yield None  # no S3 was ever set up here: nothing was delivered


@contextlib.contextmanager
def _session(args: argparse.Namespace) -> Iterator[tuple[Settings, Any, Any, Any]]:
    from matinale.night.run import make_store
    from matinale.person.identity import PersonQuery
    from matinale.settings import load_settings

    settings = load_settings()
    query = PersonQuery.of(email=args.email, phone=args.phone, supporter_id=args.supporter_id)
    with _s3_client(settings) as client:
        yield settings, query, client, make_store(settings, client)


def _print_found(result: dict[str, Any]) -> None:
    kind, value = next(iter(result["query"].items()))
    places = result["places"]
    print(f"Person ({kind} {value}): {len(places)} place(s).")
    for place in places:
        print(f"- {place['where']}  ({place['date']}, {place['rows']} row(s))")
        print(f"    fields: {', '.join(place['fields'])}")
        for row in place.get("values", []):
            print("    " + "; ".join(f"{name}={cell}" for name, cell in row.items()))
    print(f"On the suppression list: {'yes' if result['suppressed'] else 'no'}.")
    for note in result["unchecked"]:
        print(f"Not checked: {note}")


def _cmd_find(args: argparse.Namespace) -> int:
    from matinale.person.find import find_person
    from matinale.person.identity import PersonError

    try:
        with _session(args) as (settings, query, client, store):
            found = find_person(settings, query, store=store, client=client)
            result = found.to_json(values=True)
    except PersonError as exc:
        print(f"matinale person find: {exc}", file=sys.stderr)
        return EXIT_REFUSED
    if args.json:
        print(json.dumps(result, ensure_ascii=False))
    else:
        _print_found(result)
    return EXIT_OK


def _cmd_erase(args: argparse.Namespace) -> int:
    from matinale.person.erase import erase_person
    from matinale.person.identity import PersonError

    if not args.yes:
        if not sys.stdin.isatty():
            print("matinale person erase: add --yes to erase without a prompt", file=sys.stderr)
            return EXIT_REFUSED
        answer = input("Erase this person from every file Matinale holds? Type 'erase': ")
        if answer.strip() != "erase":
            print("Nothing erased.")
            return EXIT_REFUSED
    try:
        with _session(args) as (settings, query, client, store):
            today = datetime.now(settings.clocks.campaign_tz).date()
            record = erase_person(settings, query, store=store, client=client, today=today)
    except PersonError as exc:
        print(f"matinale person erase: {exc}", file=sys.stderr)
        return EXIT_REFUSED
    if args.json:
        print(json.dumps(record, ensure_ascii=False))
        return EXIT_OK
    removed = record["rows_removed"]
    print(
        f"Erased from {record['places']} place(s): {removed['inbox']} export row(s), "
        f"{removed['work_store']} work-store row(s), {removed['delivery']} delivery row(s), "
        f"{removed['suppression_plain']} plain suppression entr(ies)."
    )
    print(
        f"Suppression list: {record['suppression_entries_added']} entr(ies) added. "
        f"Request recorded at {record['record']} (no personal data)."
    )
    for note in record["unchecked"]:
        print(f"Not checked: {note}")
    return EXIT_OK
