"""The one YAML loader: hostile files refused before anything big is built, errors located."""

from __future__ import annotations

import time
import tracemalloc
from pathlib import Path

import pytest
from pydantic import BaseModel, Field, field_validator

from matinale.yamlfile import MAX_BYTES, MAX_DEPTH, ConfigError, Finding, Fix, load_yaml


def _laughs(levels: int = 12, width: int = 10) -> str:
    """The "billion laughs" file: each level holds ``width`` aliases of the one before."""
    lines = ['lol0: &lol0 "lol"']
    for level in range(1, levels):
        aliases = ", ".join([f"*lol{level - 1}"] * width)
        lines.append(f"lol{level}: &lol{level} [{aliases}]")
    return "\n".join(lines) + "\n"


def test_billion_laughs_is_refused_fast_and_small(tmp_path: Path) -> None:
    path = tmp_path / "brief.yaml"
    path.write_text(_laughs(), encoding="utf-8")  # 10**11 strings once expanded
    tracemalloc.start()
    started = time.perf_counter()
    try:
        with pytest.raises(ConfigError, match="anchors and aliases") as caught:
            load_yaml(path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert time.perf_counter() - started < 1.0
    assert peak < 5_000_000
    (finding,) = caught.value.findings
    assert (finding.file, finding.line) == (path, 1)
    assert str(finding).startswith(
        f"{path}:1: YAML anchors and aliases (&name, *name) are not allowed — "
    )


@pytest.mark.parametrize(
    ("text", "line", "problem"),
    [
        ("a: 1\nb: &x 2\n", 2, "anchors and aliases"),
        ("a: 1\nb:\n  - *x\n", 3, "anchors and aliases"),
        ("base: {a: 1}\nother:\n  <<: {a: 2}\n", 3, "merge keys"),
        ("a: 1\nb: 2\na: 3\n", 1, "'a' appears twice"),
        ("a: [1, 2\nb: 3\n", 2, "not valid YAML"),
        (
            "a: " + "[" * (MAX_DEPTH + 1) + "]" * (MAX_DEPTH + 1) + "\n",
            1,
            f"nested more than {MAX_DEPTH}",
        ),
    ],
)
def test_hostile_or_broken_files_are_refused_with_their_line(
    text: str, line: int, problem: str
) -> None:
    with pytest.raises(ConfigError, match=problem) as caught:
        load_yaml("brief.yaml", text=text)
    assert caught.value.findings[0].line == line


def test_an_oversized_file_is_refused_before_it_is_parsed(tmp_path: Path) -> None:
    path = tmp_path / "big.yaml"
    path.write_bytes(b"a: [" + b"1, " * (MAX_BYTES // 3) + b"1]\n")
    size = path.stat().st_size
    with pytest.raises(
        ConfigError, match=f"the file is {size:,} bytes; the limit is {MAX_BYTES:,}"
    ) as caught:
        load_yaml(path)
    assert caught.value.findings[0].file == path
    with pytest.raises(ConfigError, match="the file is 12 bytes; the limit is 10"):
        load_yaml("small.yaml", text="a: 12345678\n", max_bytes=10)
    assert load_yaml("small.yaml", text="a: 1234567\n", max_bytes=12).data == {"a": 1234567}


def test_dates_and_times_stay_text() -> None:
    doc = load_yaml(
        "x.yaml", text="day: 2027-04-11\nat: 20:00\nstamp: 2027-04-11 06:30:00\nn: 12\nf: 1.5\n"
    )
    assert doc.data == {
        "day": "2027-04-11",
        "at": "20:00",
        "stamp": "2027-04-11 06:30:00",
        "n": 12,
        "f": 1.5,
    }


def test_lines_of_keys_and_items() -> None:
    doc = load_yaml("x.yaml", text="# comment\ntop:\n  items:\n    - a\n    - {b: 1}\n  other: 2\n")
    assert doc.line(("top",)) == 2
    assert doc.line(("top", "items", 1)) == 5
    assert doc.line(("top", "items", 1, "b")) == 5
    assert doc.line(("top", "other")) == 6
    assert doc.line(("top", "missing", "deeper")) == 2  # the nearest parent in the file


def test_last_key_wins_when_asked_and_its_lines_are_kept() -> None:
    doc = load_yaml("x.yaml", text="a:\n  x: 1\n  y: 2\nb: 0\na:\n  x: 3\n", last_key_wins=True)
    assert doc.data == {"a": {"x": 3}, "b": 0}
    assert doc.line(("a", "x")) == 6
    assert doc.line(("a", "y")) == 5  # not the discarded first 'a'


def test_a_missing_file_and_a_foreign_error_type(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="file not found"):
        load_yaml(tmp_path / "none.yaml")
    with pytest.raises(RuntimeError, match=r"x\.yaml:1: YAML anchors"):
        load_yaml("x.yaml", text="a: &x 1\n", error=RuntimeError)


class Window(BaseModel):
    model_config = {"extra": "forbid"}
    date: str = Field(examples=["2027-04-10"])
    hours: int = Field(default=1, ge=1, le=24, description="1 to 24 hours")


class Brief(BaseModel):
    model_config = {"extra": "forbid"}
    title: str
    windows: list[Window] = []


def test_a_bad_value_is_reported_with_its_exact_line_and_fix() -> None:
    text = "title: Réunion\nwindows:\n  - date: 2027-04-10\n    hours: 48\n  - {hours: 2}\n  - date: x\n    hour: 3\n"
    doc = load_yaml("brief.yaml", text=text)
    with pytest.raises(ConfigError) as caught:
        doc.validate(Brief)
    findings = caught.value.findings
    assert [(f.line, f.field) for f in findings] == [
        (4, "windows[0].hours"),
        (5, "windows[1].date"),
        (7, "windows[2].hour"),
    ]
    assert (
        str(findings[0])
        == "brief.yaml:4: windows[0].hours: Input should be less than or equal to 24 (got 48) — 1 to 24 hours"
    )
    assert (
        str(findings[1])
        == "brief.yaml:5: windows[1].date: is required — add it, e.g. date: 2027-04-10"
    )
    assert (
        str(findings[2])
        == "brief.yaml:7: windows[2].hour: unknown key 'hour' — did you mean 'hours'?"
    )
    assert str(caught.value) == "\n".join(str(f) for f in findings)


class Titled(BaseModel):
    title: str

    @field_validator("title")
    @classmethod
    def _case(cls, value: str) -> str:
        if value.isupper():
            raise Fix(f"{value!r} is all capitals", "write it in sentence case")
        return value


def test_a_fix_raised_by_a_validator_keeps_its_message_and_fix() -> None:
    doc = load_yaml("brief.yaml", text="# brief\ntitle: RÉUNION\n")
    with pytest.raises(ConfigError) as caught:
        doc.validate(Titled)
    assert caught.value.findings == (
        Finding(
            Path("brief.yaml"), 2, "title", "'RÉUNION' is all capitals", "write it in sentence case"
        ),
    )
