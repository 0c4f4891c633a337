"""The ``matinale`` command: sample data, the local demo and the local stack."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

__all__ = ["main"]


def _cmd_sample(args: argparse.Namespace) -> int:
    from matinale.sample import write_sample

    path = write_sample(args.rows, args.seed, Path(args.out))
    print(f"Wrote {args.rows} sample supporters to {path}")
    return 0


def _cmd_demo(args: argparse.Namespace) -> int:
    from matinale.local import run_demo

    return run_demo(rows=args.rows, seed=args.seed)


def _cmd_up(args: argparse.Namespace) -> int:
    from matinale.local import run_up

    return run_up(s3_port=args.s3_port, ui_port=args.ui_port)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="matinale", description="Overnight content pipeline for campaigns, on Airflow.")
    commands = parser.add_subparsers(dest="command", required=True)

    sample = commands.add_parser("sample", help="write a realistic sample supporter file (CSV or Parquet)")
    sample.add_argument("--rows", type=int, default=20_000)
    sample.add_argument("--seed", type=int, default=42)
    sample.add_argument("--out", required=True, help="file to write: .csv or .parquet")
    sample.set_defaults(func=_cmd_sample)

    demo = commands.add_parser("demo", help="run the whole night locally through Airflow (make run)")
    demo.add_argument("--rows", type=int, default=20_000)
    demo.add_argument("--seed", type=int, default=42)
    demo.set_defaults(func=_cmd_demo)

    up = commands.add_parser("up", help="start the local S3 server and Airflow standalone until Ctrl-C (make up)")
    up.add_argument("--s3-port", type=int, default=8333)
    up.add_argument("--ui-port", type=int, default=8080)
    up.set_defaults(func=_cmd_up)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
