"""French alt texts of the cards."""

from __future__ import annotations

from visuals_samples import (
    FIELDS,
)

from matinale.visuals import (
    alt_text,
)


def test_alt_text_is_french_and_says_what_the_card_shows() -> None:
    alt = alt_text(FIELDS, format="story", campaign="Ensemble Demain")
    assert alt.startswith("Visuel vertical (format story) aux couleurs d’Ensemble Demain.")
    for part in (
        FIELDS["headline"],
        FIELDS["cta"],
        "code QR",
        "ensemble-demain.example.org/sante",
        "mention légale",
    ):
        assert part in alt
    assert "utm_" not in alt
    assert alt_text(FIELDS, format="square", campaign="Camille Durand").startswith(
        "Visuel carré aux couleurs de Camille Durand."
    )
