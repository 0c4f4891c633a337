"""``python -m matinale.dev.bench``: run the benchmark, redraw a saved report, update the README.

    python -m matinale.dev.bench run              # make bench: 100k, 1M, 3M + Airflow at 1M
    python -m matinale.dev.bench run --smoke      # 10k rows, a few cards (what make test runs)
    python -m matinale.dev.bench table FILE.json  # the tables of a saved result again
    python -m matinale.dev.bench readme FILE.json # rewrite the README's bench section from it

Commands starting with ``_`` are the child processes the harness starts.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import replace
from pathlib import Path

__all__ = ["main"]


def _sizes(text: str) -> tuple[int, ...]:
    try:
        sizes = tuple(
            int(part.replace("_", "").replace(",", "")) for part in text.split(",") if part.strip()
        )
    except ValueError as exc:
        raise argparse.ArgumentTypeError(
            f"{text!r}: give row counts separated by commas, e.g. 100000,1000000"
        ) from exc
    if not sizes or min(sizes) < 1000:
        raise argparse.ArgumentTypeError(f"{text!r}: each size must be at least 1000 rows")
    return tuple(sorted(set(sizes)))


def _cmd_run(args: argparse.Namespace) -> int:
    from matinale.dev.bench.harness import BenchOptions, run_bench

    options = BenchOptions.smoke() if args.smoke else BenchOptions()
    options = replace(options, keep=args.keep, stage_benches=args.stage_benches)
    if args.cache_dir:
        options = replace(options, cache_dir=Path(args.cache_dir).resolve())
    if args.results_dir:
        options = replace(options, results_dir=Path(args.results_dir).resolve())
    if args.sizes:
        options = replace(options, sizes=args.sizes)
    if args.segments:
        options = replace(options, segments=args.segments)
    if args.themes:
        options = replace(options, themes=args.themes)
    if args.no_airflow:
        options = replace(options, airflow_rows=None)
    elif args.airflow_rows:
        options = replace(options, airflow_rows=args.airflow_rows)
    report, _ = run_bench(options, out=lambda line: print(line, flush=True))
    if report["failures"]:
        print(
            f"{len(report['failures'])} measurement(s) failed:",
            *report["failures"],
            sep="\n  ",
            file=sys.stderr,
        )
        return 1
    return 0


def _load(path: str) -> dict[str, object]:
    return json.loads(Path(path).read_text(encoding="utf-8"))


def _cmd_table(args: argparse.Namespace) -> int:
    from matinale.dev.bench.render import render_markdown, render_text

    report = _load(args.results)
    print(render_markdown(report) if args.markdown else render_text(report), end="")
    return 0


def _cmd_readme(args: argparse.Namespace) -> int:
    from matinale.dev.bench.render import render_markdown, update_readme

    update_readme(Path(args.readme), render_markdown(_load(args.results)))
    print(f"Updated the bench section of {args.readme} from {args.results}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    from matinale.cli import command_parser

    parser, commands = command_parser("python -m matinale.dev.bench", "Benchmark Matinale's night.")

    run = commands.add_parser(
        "run", help="measure every stage at each size, the floors and one Airflow run"
    )
    run.add_argument(
        "--smoke", action="store_true", help="10,000 rows and a few cards (seconds, not minutes)"
    )
    run.add_argument(
        "--sizes", type=_sizes, help="row counts, comma-separated (default 100000,1000000,3000000)"
    )
    run.add_argument("--segments", type=int, help="segments to aim at (default 200; smoke 5)")
    run.add_argument("--themes", type=int, help="themes in the bench brief (default 5; smoke 2)")
    run.add_argument(
        "--airflow-rows", type=int, help="rows of the Airflow run (default 1000000; smoke 10000)"
    )
    run.add_argument("--no-airflow", action="store_true", help="skip the Airflow run")
    run.add_argument(
        "--stage-benches", action="store_true", help="also call bench/*_bench.py run() when present"
    )
    run.add_argument(
        "--cache-dir",
        help="generated inputs and the run's workspace (default bench/cache/ of the project)",
    )
    run.add_argument(
        "--results-dir", help="where the JSON report goes (default bench/results/ of the project)"
    )
    run.add_argument(
        "--keep", action="store_true", help="keep the workspace (stage logs, bundle, S3 data)"
    )
    run.set_defaults(func=_cmd_run)

    table = commands.add_parser("table", help="print the tables of a saved result")
    table.add_argument("results")
    table.add_argument("--markdown", action="store_true")
    table.set_defaults(func=_cmd_table)

    readme = commands.add_parser(
        "readme", help="rewrite the README's bench section from a saved result"
    )
    readme.add_argument("results")
    readme.add_argument("--readme", default="README.md")
    readme.set_defaults(func=_cmd_readme)

    for name, help_text in (
        ("_stage", "one stage"),
        ("_floors", "a size's floors"),
        ("_airflow", "the Airflow run"),
        ("_stage_bench", "a bench/*_bench.py script"),
    ):
        child = commands.add_parser(name, help=f"(internal) child process: {help_text}")
        child.add_argument("spec")
        child.set_defaults(func=None, child=name)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.func is None:
        from matinale.dev.bench import child, child_floors

        entry = {
            "_stage": child.stage_main,
            "_floors": child_floors.floors_main,
            "_airflow": child.airflow_main,
            "_stage_bench": child.stage_bench_main,
        }[args.child]
        return entry(args.spec)
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
