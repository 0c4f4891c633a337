"""French typography per channel, and how X and SMS count characters."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from matinale.content.typography import (
    GSM7_BASIC,
    GSM7_EXTENSION,
    NNBSP,
    check,
    fix,
    fix_checked,
    sms_count,
    to_gsm7,
    x_length,
)

URL = "https://ensemble-demain.example.org/sante?utm_source=matinale&utm_medium=x&utm_content=65plus-p01-1"


def test_social_spacing_apostrophe_and_guillemets() -> None:
    text = "Vraiment? Oui: c'est «maintenant» ou jamais ;  on y va !"
    assert fix(text, "social") == (
        f"Vraiment{NNBSP}? Oui{NNBSP}: c’est «{NNBSP}maintenant{NNBSP}» ou jamais{NNBSP}; on y va{NNBSP}!"
    )


def test_social_straight_quotes_ellipsis_and_doubled_punctuation() -> None:
    assert (
        fix('Il a dit "non merci"... vraiment ?!', "social")
        == f"Il a dit «{NNBSP}non merci{NNBSP}»… vraiment{NNBSP}?!"
    )


@pytest.mark.parametrize(
    "kept",
    [
        URL,
        "https://www.insee.fr/fr/statistiques/4277613?a=1:2&b='x'&c=3",
        "07:30",
        "7h30",
        "12:45:00",
        "3:2",
        "#Santé",
        "#PouvoirDAchat",
        "contact@ensemble-demain.example.org",
        "1,8 %",
        "1 000 000",
    ],
)
def test_never_inside_urls_times_numbers_hashtags(kept: str) -> None:
    for style in ("social", "sms"):
        assert kept in fix(f"Voir {kept} ! Et l'autre : {kept}", style)
    assert check(f"Voir {kept}{NNBSP}! Et l’autre{NNBSP}: {kept}", "social") == []


def test_a_url_ends_before_sentence_punctuation() -> None:
    assert fix(f"Lien: {URL}.", "social") == f"Lien{NNBSP}: {URL}."
    assert fix(f"Lien {URL}!", "social") == f"Lien {URL}{NNBSP}!"


def test_no_double_spaces_no_trailing_spaces_at_most_one_blank_line() -> None:
    assert fix("Un  deux   trois \n\n\n\nquatre  ", "social") == "Un deux trois\n\nquatre"


@pytest.mark.parametrize(
    ("text", "rule"),
    [
        ("Oui : non", "narrow no-break space"),
        ("Oui: non", "missing narrow no-break space"),
        ("L'avenir", "straight apostrophe"),
        (f"«{NNBSP}ok »", "» must be preceded"),
        (f"« ok{NNBSP}»", "« must be followed"),
        ("un  deux", "double space"),
        ('dit "non"', "straight double quote"),
        ("et...", "three dots"),
    ],
)
def test_checker_names_each_rule(text: str, rule: str) -> None:
    issues = check(text, "social")
    assert issues and any(rule in issue.rule for issue in issues), issues
    assert check(fix(text, "social"), "social") == []


def test_checker_gives_the_position() -> None:
    [issue] = check("Bonjour: toi", "social")
    assert issue.position == 7 and "Bonjour" in issue.excerpt


def test_sms_stays_in_gsm7_with_plain_space_and_apostrophe() -> None:
    text = fix("L'Haÿ-les-Roses : «ça» compte – même à 07:30 ! Fête, côte, où, Noël… Œuvre", "sms")
    assert text == 'L\'Hay-les-Roses : "ca" compte - meme à 07:30 ! Fete, cote, où, Noel... OEuvre'
    assert set(text) <= GSM7_BASIC
    assert check(text, "sms") == []


def test_sms_checker_flags_what_would_switch_to_ucs2() -> None:
    issues = check(f"Ça{NNBSP}! l’été", "sms")
    assert {text.rule.split(" ")[0] for text in issues} == {repr(NNBSP), "'’'"}


def test_sms_leaves_out_what_gsm7_cannot_carry() -> None:
    assert to_gsm7("Merci 👍") == "Merci 👍"  # the conversion alone keeps it...
    assert sms_count("Merci 👍").encoding == "UCS-2"  # ...which would cost 90 characters a part
    assert fix("Merci 👍 ! #Fête", "sms") == "Merci ! #Fete"


def test_plain_text_keeps_french_letters() -> None:
    assert (
        fix("L'Haÿ-les-Roses, Saint-Étienne, Œuvre", "social")
        == "L’Haÿ-les-Roses, Saint-Étienne, Œuvre"
    )


def test_html_fixes_text_nodes_only() -> None:
    markup = '<p title="a : b">L&#39;avenir : &lt;script&gt;</p><a href="https://x.example.org/?a=1&amp;b=2">C&#39;est ici !</a>'
    fixed = fix(markup, "html")
    assert fixed == (
        f'<p title="a : b">L’avenir{NNBSP}: &lt;script&gt;</p>'
        f'<a href="https://x.example.org/?a=1&amp;b=2">C’est ici{NNBSP}!</a>'
    )
    assert check(markup, "html") and check(fixed, "html") == []


def test_fix_checked_reports_links_and_bare_text() -> None:
    result = fix_checked(f"Signez : {URL} #Santé", "social")
    assert result.links == [URL] and result.issues == []
    assert URL not in result.bare and "#Santé" in result.bare


def test_private_use_characters_are_refused() -> None:
    with pytest.raises(ValueError, match="Private Use"):
        fix("icône \ue000", "social")


@pytest.mark.parametrize(
    ("text", "encoding", "units", "parts"),
    [
        ("a" * 160, "GSM-7", 160, 1),
        ("a" * 161, "GSM-7", 161, 2),
        ("é" * 306, "GSM-7", 306, 2),
        ("a" * 307, "GSM-7", 307, 3),
        ("€" * 80, "GSM-7", 160, 1),
        ("€" * 81, "GSM-7", 162, 2),
        ("a" * 152 + "€" + "a" * 153, "GSM-7", 307, 3),  # the € cannot straddle two parts
        ("ê" * 70, "UCS-2", 70, 1),
        ("ê" * 71, "UCS-2", 71, 2),
        ("ê" * 134, "UCS-2", 134, 2),
        ("ê" * 135, "UCS-2", 135, 3),
        ("😀" * 35, "UCS-2", 70, 1),
        ("a" * 66 + "😀" + "a" * 67, "UCS-2", 135, 3),  # a surrogate pair is never split
        ("", "GSM-7", 0, 0),
    ],
)
def test_sms_count(text: str, encoding: str, units: int, parts: int) -> None:
    count = sms_count(text)
    assert (count.encoding, count.units, count.parts) == (encoding, units, parts)


@pytest.mark.parametrize(
    ("text", "length"),
    [
        ("a" * 280, 280),
        (f"Voir {URL}", 5 + 23),
        ("https://a.example.org", 23),
        ("Oui" + NNBSP + "!", 6),  # U+202F weighs 2 on X
        ("C’est «", 7),  # ’ and « weigh 1
        ("👉 ok", 5),
        ("❤️", 2),  # the variation selector adds nothing
        ("日本", 4),
    ],
)
def test_x_length(text: str, length: int) -> None:
    assert x_length(text) == length


_FRENCH = st.text(
    alphabet=st.sampled_from(list("abcéèàùçôÿ '\"«»:;!?.,-0123456789#()…👉\u202f\u00a0\n")),
    max_size=80,
)


@settings(max_examples=150, deadline=None)
@given(_FRENCH, st.sampled_from(["", URL]))
def test_fix_is_idempotent_clean_and_keeps_urls(text: str, url: str) -> None:
    text = f"{text} {url} {text}"
    for style in ("social", "sms"):
        once = fix(text, style)
        assert fix(once, style) == once
        assert check(once, style) == [], (style, once)
        assert url in once
    assert set(fix(text, "sms")) <= GSM7_BASIC | GSM7_EXTENSION
