"""The delivery file's rows: one per consenting supporter and channel, their segment's link
and, for those living in a territorial pack's territory, that pack's link (issue 19)."""

from __future__ import annotations

import csv
import io

import pandas as pd

from matinale.publish.delivery import DELIVERY_COLUMNS, _delivery_csv, delivery_rows

LINKS = {
    "65plus-p01": "https://l.example/p/aaaa",
    "18-24-p02": "https://l.example/p/bbbb",
    "t-75056": "https://l.example/p/paris",
    "t-75120": "https://l.example/p/p20",
}


def _contacts() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "supporter_id": ["a", "b", "c", "d", "e"],
            "email": ["a@x.fr", "b@x.fr", "c@x.fr", "", "e@x.fr"],
            "consent_email": [True, True, True, True, False],
            "phone": ["0612345678", "", "", "0698765432", "0611111111"],
            "consent_sms": [True, False, False, True, False],
        }
    )


def _assignments() -> pd.DataFrame:
    rows = [
        ("a", "65plus-p01"),
        ("a", "t-75056"),  # Paris as a whole…
        ("a", "t-75120"),  # …and its 20th: the more local pack wins
        ("b", "18-24-p02"),
        ("b", "t-75056"),
        ("c", "18-24-p02"),  # in no territorial pack
        ("d", "65plus-p01"),
        ("d", "t-69123"),  # a pack with no page tonight: no territorial link
        ("e", "65plus-p01"),
        ("e", "t-75056"),  # no consent at all: no row, so no territorial link either
    ]
    return pd.DataFrame(rows, columns=["supporter_id", "segment_id"])


def test_territorial_link_goes_to_the_people_of_the_pack_under_their_consent() -> None:
    # Paris has more members than its 20th (a, b, e against a).
    rows, counts = delivery_rows(_contacts(), _assignments(), LINKS)
    assert list(rows.columns) == list(DELIVERY_COLUMNS)
    got = {
        (r.supporter_id, r.channel): (r.segment, r.link, r.territory, r.territory_link)
        for r in rows.itertuples()
    }
    assert got == {
        ("a", "email"): ("65plus-p01", LINKS["65plus-p01"], "t-75120", LINKS["t-75120"]),
        ("a", "sms"): ("65plus-p01", LINKS["65plus-p01"], "t-75120", LINKS["t-75120"]),
        ("b", "email"): ("18-24-p02", LINKS["18-24-p02"], "t-75056", LINKS["t-75056"]),
        ("c", "email"): ("18-24-p02", LINKS["18-24-p02"], "", ""),
        ("d", "sms"): ("65plus-p01", LINKS["65plus-p01"], "", ""),
    }
    assert counts["by_territory"] == {"t-75056": 1, "t-75120": 2}
    # The main segment is never a territorial pack when the person has another.
    assert not rows["segment"].str.startswith("t-").any()


def test_someone_only_in_a_territorial_pack_keeps_it_as_their_page() -> None:
    assignments = pd.DataFrame({"supporter_id": ["a"], "segment_id": ["t-75120"]})
    rows, _ = delivery_rows(_contacts().iloc[:1], assignments, LINKS)
    assert set(rows["segment"]) == {"t-75120"} and set(rows["territory"]) == {"t-75120"}


def test_the_file_has_the_two_territory_columns_even_when_nobody_lives_in_one() -> None:
    assignments = _assignments()
    assignments = assignments[~assignments["segment_id"].str.startswith("t-")]
    rows, counts = delivery_rows(_contacts(), assignments, LINKS)
    header, *lines = list(csv.reader(io.StringIO(_delivery_csv(rows).decode())))
    assert header == list(DELIVERY_COLUMNS)
    assert header[5:] == ["territory", "territory_link", "send_at"]
    assert lines and all(line[5:] == ["", "", ""] for line in lines)
    assert counts["by_territory"] == {}


def test_memberships_from_the_segment_stage_are_read_like_territorial_assignments() -> None:
    """The night keeps territorial packs apart (private/territories.parquet: supporter_id,
    pack_id); the delivery file reads them the same way."""
    assignments = _assignments()
    territorial = assignments["segment_id"].str.startswith("t-")
    memberships = assignments[territorial].rename(columns={"segment_id": "pack_id"})
    apart, counts_apart = delivery_rows(_contacts(), assignments[~territorial], LINKS, memberships)
    together, counts_together = delivery_rows(_contacts(), assignments, LINKS)
    pd.testing.assert_frame_equal(apart, together)
    assert counts_apart == counts_together


def test_the_address_pattern_spells_out_pythons_whitespace() -> None:
    # _EMAIL writes \s out so that pandas runs it in Arrow (RE2); it must mean what \s means.
    import re
    import sys

    from matinale.publish.delivery import _SPACE

    every = "".join(map(chr, range(sys.maxunicode + 1)))  # each code point once
    assert re.findall(f"[{_SPACE}]", every) == re.findall(r"\s", every)


def test_addresses_are_judged_in_arrow_as_python_judges_them() -> None:
    import random
    import re

    from matinale.publish.delivery import _EMAIL

    reference = re.compile(r"^[^@\s,;]+@[^@\s,;]+\.[A-Za-z]{2,}$")
    pieces = [
        "a",
        "Zé",
        "0",
        ".",
        "@",
        ",",
        ";",
        " ",
        "\t",
        "\x0b",
        "\x1d",
        "\xa0",
        "\u2003",
        "\u3000",
        "\x85",
        "fr",
        "com",
        "-",
        "_",
        "+",
        "é",
        "€",
        "\U0001f600",
        "\n",
    ]
    rng = random.Random(7)

    def part() -> str:
        return "".join(rng.choice(pieces) for _ in range(rng.randint(0, 4)))

    values = [
        f"{part()}@{part()}.{rng.choice(['fr', 'org', 'f', 'c0m', part()])}" for _ in range(20_000)
    ]
    values += ["camille@exemple.fr", "c amille@exemple.fr", "a@b\u2003.fr"]
    no_newline = [v for v in values if "\n" not in v]  # the addresses are stripped first
    series = pd.Series(no_newline, dtype="str")

    assert not series.array._needs_python_regex(_EMAIL.pattern)  # the fast path is taken
    found = series.str.match(_EMAIL.pattern).tolist()
    assert found == [bool(reference.match(v)) for v in no_newline]
    assert sum(found) > 100 and not all(found)
