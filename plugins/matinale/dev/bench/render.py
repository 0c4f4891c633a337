"""The benchmark's tables: the terminal text, the Markdown report and the README section.

Pure functions of the report dictionary (see :mod:`matinale.dev.bench.report`), so any saved
result can be redrawn (``python -m matinale.dev.bench table bench/results/<file>.json``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from matinale.dev.bench.labels import _mib, _ratio, _rows, _seconds, throughput_label
from matinale.dev.bench.learn import learn_lines
from matinale.dev.bench.links import links_lines
from matinale.dev.bench.report import (
    GROWTH_EXPONENT_LIMIT,
    MEMORY_GROWTH_LIMIT,
    MEMORY_MIB_PER_MILLION_LIMIT,
    TARGET_ROWS,
    _run_at,
)

__all__ = ["README_BEGIN", "README_END", "render_markdown", "render_text", "update_readme"]

README_BEGIN = "<!-- bench:begin (written by `python -m matinale.dev.bench readme`) -->"
README_END = "<!-- bench:end -->"


_HEAD = ("stage", "size", "seconds", "cpu s", "throughput", "peak MiB", "floor s", "ratio")

_MEMORY_RULE = (
    f"or its peak memory per unit of input ×{MEMORY_GROWTH_LIMIT} from one size to the next "
    f"or more than {MEMORY_MIB_PER_MILLION_LIMIT:,.0f} MiB per million rows"
)


def _made(run: dict[str, Any]) -> str:
    sizes = run.get("sizes") or {}
    parts = [
        f"{sizes[key]:,} {label}"
        for key, label in (("segments", "segments"), ("posts", "posts"), ("cards", "cards"))
        if sizes.get(key)
    ]
    return f" ({', '.join(parts)})" if parts else ""


def delivery_line(run: dict[str, Any]) -> str:
    """The delivery file publish wrote in this night: rows and bytes (issue #17 asks its size)."""
    publish: dict[str, Any] = next(
        (s for s in run.get("stages", []) if s.get("stage") == "publish"), {}
    )
    delivery = (publish.get("summary") or {}).get("delivery") or {}
    if not delivery.get("bytes"):
        return ""
    rows, size = delivery.get("rows", 0), delivery["bytes"]
    return (
        f"Delivery file (private): {rows:,} rows, {size / 1e6:,.1f} MB "
        f"({size / max(1, rows):.0f} bytes a row), written by publish."
    )


def bytes_line(run: dict[str, Any]) -> str:
    """What the night's bundle weighs: bytes per card (per layout) and per pack (issue #21)."""
    sizes = run.get("sizes") or {}
    per_format = sizes.get("card_bytes") or {}
    if not per_format:
        return ""
    formats = ", ".join(f"{name} {size / 1000:,.1f} KB" for name, size in per_format.items())
    return (
        f"Bundle {sizes.get('bundle_bytes', 0) / 1e6:,.1f} MB in {sizes.get('bundle_files', 0):,} files; "
        f"a card {sizes.get('card_bytes_mean', 0) / 1000:,.1f} KB ({formats}); "
        f"a pack {sizes.get('pack_bytes', 0) / 1e6:,.2f} MB ({sizes.get('packs', 0):,} packs"
        + (", built on request by the link service" if sizes.get("packs_served") else ", stored")
        + ")."
    )


def _night_rows(run: dict[str, Any]) -> list[tuple[str, ...]]:
    rows: list[tuple[str, ...]] = []
    for stage in run["stages"]:
        if not stage.get("ok"):
            rows.append(
                (stage["stage"], "—", "failed", "—", (stage.get("error") or "")[:60], "—", "—", "—")
            )
            continue
        floor = stage.get("floor") or {}
        rows.append(
            (
                stage["stage"],
                stage.get("size_label") or "—",
                _seconds(stage["seconds"]),
                _seconds(stage.get("cpu_seconds")),
                throughput_label(stage["unit"], stage.get("throughput")),
                _mib(stage.get("peak_mib")),
                _seconds(floor.get("seconds")),
                _ratio(stage.get("ratio")),
            )
        )
    cpu = sum(s.get("cpu_seconds") or 0.0 for s in run["stages"] if s.get("ok"))
    rows.append(
        (
            "total (direct)",
            "",
            _seconds(run["direct_seconds"]),
            _seconds(cpu),
            "",
            _mib(run.get("peak_mib")),
            _seconds(run.get("floor_seconds")),
            _ratio(run.get("ratio_to_floors")),
        )
    )
    return rows


def _aligned(head: tuple[str, ...], rows: Iterable[tuple[str, ...]]) -> list[str]:
    table = [head, *rows]
    widths = [max(len(row[i]) for row in table) for i in range(len(head))]
    lines = []
    for row in table:
        cells = [
            row[0].ljust(widths[0]),
            *(cell.rjust(width) for cell, width in zip(row[1:], widths[1:], strict=True)),
        ]
        lines.append("  ".join(cells).rstrip())
    lines.insert(1, "  ".join("-" * w for w in widths))
    return lines


def _markdown_table(head: tuple[str, ...], rows: Iterable[tuple[str, ...]]) -> list[str]:
    lines = [
        "| " + " | ".join(head) + " |",
        "|" + "|".join(["---", *["---:"] * (len(head) - 1)]) + "|",
    ]
    lines.extend("| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |" for row in rows)
    return lines


def _scaling_rows(report: dict[str, Any]) -> tuple[tuple[str, ...], list[tuple[str, ...]]]:
    sizes = sorted(r["rows"] for r in report.get("runs", []))
    head = (
        "stage",
        *(f"s @{_rows(n)}" for n in sizes),
        *(f"MiB @{_rows(n)}" for n in sizes),
        "growth",
        "memory growth",
        "flag",
    )
    rows = []
    for stage in (report.get("scaling") or {}).get("stages", []):
        by_rows = {p["rows"]: p for p in stage["points"]}
        growth = ", ".join(
            f"×{s['time_ratio']:.1f} for ×{s['input_ratio']:.1f}"
            + (f" (^{s['exponent']:.2f})" if s.get("exponent") is not None else "")
            for s in stage["steps"]
        )
        memory = ", ".join(
            f"×{s['memory_ratio']:.2f} ({s['mib_per_million_rows']:+,.0f} MiB/M)"
            for s in stage["steps"]
            if s.get("memory_ratio") is not None
        )
        flags = [
            what
            for what, flagged in (
                ("time", stage["flagged"]),
                ("memory", stage.get("memory_flagged", False)),
            )
            if flagged
        ]
        rows.append(
            (
                stage["stage"],
                *(_seconds(by_rows[n]["seconds"]) if n in by_rows else "—" for n in sizes),
                *(_mib(by_rows[n].get("peak_mib")) if n in by_rows else "—" for n in sizes),
                growth or "—",
                memory or "—",
                f"FASTER THAN INPUT ({', '.join(flags)})" if flags else "",
            )
        )
    return head, rows


def _airflow_lines(report: dict[str, Any]) -> list[str]:
    airflow = report.get("airflow")
    if not airflow:
        return ["Airflow run: not measured (--no-airflow)."]
    if not airflow.get("ok"):
        return [f"Airflow run ({airflow.get('rows', 0):,} rows): FAILED: {airflow.get('error')}"]
    overhead = airflow.get("overhead_seconds")
    compared = (
        f"direct {airflow['direct_seconds']:.1f} s: Airflow's own overhead ≈ {overhead:.1f} s"
        if overhead is not None
        else "no direct night of that size to compare with"
    )
    lines = [
        f"Airflow run, dag.test() at {airflow['rows']:,} rows: {airflow['seconds']:.1f} s ({compared}; imports excluded from both), "
        f"peak {airflow.get('peak_mib') or 0:,.0f} MiB (dag.test runs every task in one process)."
    ]
    if airflow.get("api_start_seconds"):
        lines.append(
            f"  Execution API started before the clock, as an api-server is up before a night: {airflow['api_start_seconds']:.1f} s"
            + (
                ""
                if airflow.get("api_shared")
                else " (NOT the one the tasks used: counted nowhere)"
            )
        )
    by_task = airflow.get("by_task") or {}
    direct = airflow.get("direct_by_stage") or {}
    if by_task:
        pairs = ", ".join(
            f"{task} {seconds:.1f}" + (f"/{direct[task]:.1f}" if task in direct else "")
            for task, seconds in by_task.items()
        )
        lines.append(f"  per task, Airflow/direct seconds (mapped tasks summed): {pairs}")
    if airflow.get("dag_only_tasks"):
        only = ", ".join(
            f"{task} {seconds:.1f}" for task, seconds in airflow["dag_only_tasks"].items()
        )
        lines.append(f"  tasks only the DAG has (counted in the overhead): {only}")
    if airflow.get("direct_not_in_dag"):
        lines.append(
            f"  stages the DAG does not run, left out of the comparison: {', '.join(airflow['direct_not_in_dag'])}"
        )
    if airflow.get("between_tasks_seconds") is not None:
        lines.append(
            f"  between tasks (dag.test's scheduling loop and metadata DB): {airflow['between_tasks_seconds']:.1f} s"
        )
    return lines


def _target_lines(report: dict[str, Any]) -> list[str]:
    lines = []
    for target in report.get("targets") or []:
        mark = {True: "met", False: "MISSED", None: "not measured"}[target.get("met")]
        lines.append(f"[{mark}] {target['what']}: {target['why']}")
    return lines


def _machine_line(report: dict[str, Any]) -> str:
    machine = report.get("machine") or {}
    load = machine.get("load_1min_start")
    return (
        f"{machine.get('cpu', '?')}, {machine.get('cores', '?')} cores, {machine.get('memory_gib', 0):.0f} GiB, "
        f"{machine.get('os', '?')}, Python {machine.get('python', '?')}"
        + (f"; load average at start {load:.2f}" if isinstance(load, int | float) else "")
    )


def render_text(report: dict[str, Any]) -> str:
    """The report as plain-text tables for the terminal."""
    lines = [
        f"Matinale bench ({report.get('mode')}), {report.get('started_at')}, commit {(report.get('machine') or {}).get('commit', '?')}",
        f"Machine: {_machine_line(report)}",
        f"Setup: {_setup_line(report)}",
        "",
    ]
    for run in sorted(report.get("runs", []), key=lambda r: r["rows"]):
        lines.append(
            f"Night at {run['rows']:,} supporters{_made(run)}, each stage called directly in its own process{'' if run['ok'] else ' (FAILED)'}:"
        )
        lines.extend(_aligned(_HEAD, _night_rows(run)))
        if delivery_line(run):
            lines.append(delivery_line(run))
        if bytes_line(run):
            lines.append(bytes_line(run))
        lines.append("")
    head, rows = _scaling_rows(report)
    if len(report.get("runs", [])) > 1:
        lines.append(
            f"Scaling (flagged when time grows faster than input^{GROWTH_EXPONENT_LIMIT}, {_MEMORY_RULE}):"
        )
        lines.extend(_aligned(head, rows))
        lines.append("")
    lines.extend(_airflow_lines(report))
    lines.extend(["", *links_lines(report.get("links"))])
    lines.extend(["", *learn_lines(report.get("learn"))])
    imports = (report.get("imports") or {}).get("seconds")
    if imports is not None:
        lines.append(
            f"Importing the night's libraries costs {imports:.1f} s per process (paid by every task process, not counted above)."
        )
    lines.append("")
    lines.append("Targets:")
    lines.extend(_target_lines(report))
    unmeasured = report.get("unmeasured_night_functions") or []
    if unmeasured:
        lines.append(
            f"Not measured directly (unknown to the bench; they run in the Airflow run): {', '.join(unmeasured)}"
        )
    return "\n".join(lines) + "\n"


def _setup_line(report: dict[str, Any]) -> str:
    setup = report.get("setup") or {}
    home = setup.get("home") or {}
    return (
        f"{home.get('segments_asked', '?')} segments asked ({len(home.get('bands', []))} age bands × {home.get('clusters', '?')} profiles), "
        f"{len(home.get('themes', []))} themes, card layouts {', '.join(home.get('card_formats', []))}; "
        f"edition {setup.get('edition')}; local SeaweedFS; work store on local disk"
    )


def render_markdown(report: dict[str, Any]) -> str:
    """The README section: machine, date, the target-size night, scaling, Airflow, targets."""
    machine = report.get("machine") or {}
    lines = [
        f"Measured {report.get('started_at', '?')[:10]} on {_machine_line(report)} "
        f"(commit `{str(machine.get('commit', '?'))[:10]}`, `make bench`, {report.get('duration_seconds', 0) / 60:.0f} min). "
        f"Setup: {_setup_line(report)}. Raw numbers: `{report.get('results_file', 'bench/results/')}`.",
        "",
    ]
    runs = sorted(report.get("runs", []), key=lambda r: r["rows"])
    main = _run_at(report, TARGET_ROWS) or (runs[-1] if runs else None)
    if main:
        lines.append(
            f"**One night at {main['rows']:,} supporters**{_made(main)}, each stage called directly in its own process:"
        )
        lines.append("")
        lines.extend(_markdown_table(_HEAD, _night_rows(main)))
        lines.append("")
        if delivery_line(main):
            lines.extend([delivery_line(main), ""])
        if bytes_line(main):
            lines.extend([bytes_line(main), ""])
    if len(runs) > 1:
        head, rows = _scaling_rows(report)
        lines.append(
            f"**Scaling** (a stage is flagged when its time grows faster than input^{GROWTH_EXPONENT_LIMIT}, {_MEMORY_RULE}):"
        )
        lines.append("")
        lines.extend(_markdown_table(head, rows))
        lines.append("")
    lines.extend(_airflow_lines(report))
    lines.extend(["", *links_lines(report.get("links"))])
    lines.extend(["", *learn_lines(report.get("learn"))])
    lines.append("")
    lines.append("**Targets** (issue #11, then issue #21):")
    lines.append("")
    lines.extend(f"- {line}" for line in _target_lines(report))
    return "\n".join(lines) + "\n"


def update_readme(readme: Path, section: str) -> None:
    """Replace the text between the bench markers of ``readme`` with ``section``."""
    text = Path(readme).read_text(encoding="utf-8")
    pattern = re.compile(re.escape(README_BEGIN) + r".*?" + re.escape(README_END), re.DOTALL)
    if not pattern.search(text):
        raise ValueError(
            f"{readme}: no bench section; add the lines {README_BEGIN!r} and {README_END!r} where it goes"
        )
    Path(readme).write_text(
        pattern.sub(lambda _: f"{README_BEGIN}\n{section.rstrip()}\n{README_END}", text, count=1),
        encoding="utf-8",
    )
