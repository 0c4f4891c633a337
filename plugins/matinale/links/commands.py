"""The ``matinale links …`` and ``matinale withdraw`` commands (added to the CLI by
:func:`add_commands`)."""

from __future__ import annotations

import argparse
import getpass
import sys
from datetime import date
from typing import Any

__all__ = ["add_commands"]


def _edition(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date: use YYYY-MM-DD") from exc


def _state(settings: Any) -> Any:
    from matinale.cli import client_from_env
    from matinale.links.state import LinkState

    links = settings.link_service
    return LinkState(client_from_env(settings), links.state_bucket, links.state_prefix)


def _cmd_serve(args: argparse.Namespace) -> int:
    from matinale.cli import client_from_env
    from matinale.links.serve import server
    from matinale.settings import load_settings

    settings = load_settings()
    server(settings, client_from_env(settings), host=args.host, port=args.port).run()
    return 0


def _cmd_rotate(args: argparse.Namespace) -> int:
    from matinale.settings import load_settings

    moves = _state(load_settings()).rotate(args.segment, all_segments=args.all)
    print(f"{len(moves)} token(s) rotated; the old links now answer “lien remplacé”.")
    return 0


def _cmd_withdraw(args: argparse.Namespace) -> int:
    from matinale.settings import load_settings

    key = _state(load_settings()).withdraw(
        args.edition, by=args.by or getpass.getuser(), reason=args.reason
    )
    print(f"Edition {args.edition} withdrawn ({key}): links stop within seconds.")
    return 0


def _cmd_stats(args: argparse.Namespace) -> int:
    from matinale.links.counts import Counts, database_url, make_engine
    from matinale.settings import load_settings

    settings = load_settings()
    engine = make_engine(database_url(settings.var_dir))
    rows = list(Counts(engine).totals(args.edition.isoformat()))
    engine.dispose()
    if not rows:
        print(f"No counts for {args.edition}.")
        return 0
    width = max(len(segment) for segment, _, _ in rows)
    for segment, event, n in rows:
        print(f"{segment:<{width}}  {event:<14} {n:>8}")
    return 0


def _run(func: Any) -> Any:
    """Staff read one sentence, not a traceback, for a Matinale error."""

    def run(args: argparse.Namespace) -> int:
        from matinale.errors import MatinaleError

        try:
            return int(func(args) or 0)
        except MatinaleError as exc:
            print(f"matinale {args.command}: {exc}", file=sys.stderr)
            return 2

    return run


def add_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    links = commands.add_parser("links", help="the link service: serve, rotate tokens, stats")
    sub = links.add_subparsers(dest="links_command", required=True)
    serve = sub.add_parser("serve", help="run the link service (uvicorn, one worker)")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8090)
    serve.set_defaults(func=_run(_cmd_serve))
    rotate = sub.add_parser("rotate", help="replace segment tokens (the old /p/ links stop)")
    which = rotate.add_mutually_exclusive_group(required=True)
    which.add_argument("--segment", help="one segment id")
    which.add_argument("--all", action="store_true", help="every segment")
    rotate.set_defaults(func=_run(_cmd_rotate))
    stats = sub.add_parser("stats", help="counts of one edition per segment and event")
    stats.add_argument("--edition", type=_edition, required=True)
    stats.set_defaults(func=_run(_cmd_stats))

    withdraw = commands.add_parser(
        "withdraw", help="withdraw an edition: /p/ and its /s/ links answer “édition retirée”"
    )
    withdraw.add_argument("--edition", type=_edition, required=True)
    withdraw.add_argument("--reason", default="")
    withdraw.add_argument("--by", default="", help="who (default: the current user)")
    withdraw.set_defaults(func=_run(_cmd_withdraw))
