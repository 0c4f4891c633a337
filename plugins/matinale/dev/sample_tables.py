"""The fixed data the sample generator draws from: columns, interests, fiction phone blocks,
phone zones, first names by cohort and surnames (``data/sample_names.json``), interest
weights and rates.

Kept apart from :mod:`matinale.dev.sample` so the generator reads as code; every value here
shapes what the generated supporters look like, so a change here changes every sample file.
"""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import numpy as np

from matinale.ingest.schema import FIELDS

# A fixed "today" so that the same seed gives the same ages and dates on any day.
REFERENCE_DATE = date(2026, 11, 1)

# The columns the sample writes: every field ingest reads, in its order, birth dates not ages.
COLUMNS = tuple(name for name in FIELDS if name != "age")

INTERESTS = (
    "pouvoir-achat",
    "ecole",
    "sante",
    "transition-ecologique",
    "europe",
    "securite",
    "emploi",
    "logement",
    "culture",
    "agriculture",
)

# Phone numbers that cannot ring anyone. ARCEP's plan national de numérotation (annex 1 to
# decision 2018-0881, as amended; article 2.5.12 in the version cited) sets aside, for
# films, series and other audiovisual works, six blocks of 10,000 numbers: 01 99 00 xx xx,
# 02 61 91 xx xx, 03 53 01 xx xx, 04 65 71 xx xx, 05 36 49 xx xx and 06 39 98 xx xx. Found
# through the French state's design system (DSFR, "Numéro de téléphone" pattern), which
# tells designers to use these roots in examples and links the Légifrance text
# (JORFARTI000037263033). The "09 77 21" block that some lists add is NOT reserved: real
# businesses answer on 09 77 21 xx xx numbers, so it is left out. Keys are the ARCEP zone
# digit (1 Île-de-France, 2 North-West, 3 North-East, 4 South-East, 5 South-West, 6 mobile).
FICTION_PHONE_BLOCKS: dict[int, str] = {
    1: "019900",
    2: "026191",
    3: "035301",
    4: "046571",
    5: "053649",
    6: "063998",
}
_BLOCK_SIZE = 10_000
_MOBILE = 6

# fmt: off
# (a hand-laid data table: one zone group per line)
# Landline zone of each région (INSEE code), so that a fixed-line number matches where the
# person lives; overseas régions have no fiction landline block and get mobiles only.
_ZONE_BY_REGION = {
    "11": 1,
    "24": 2, "28": 2, "52": 2, "53": 2,
    "27": 3, "32": 3, "44": 3,
    "84": 4, "93": 4, "94": 4,
    "75": 5, "76": 5,
}
# Languedoc-Roussillon (Aude, Gard, Hérault, Lozère, Pyrénées-Orientales) dials 04, unlike
# the rest of Occitanie.
_ZONE_BY_DEPARTEMENT = {"11": 4, "30": 4, "34": 4, "48": 4, "66": 4}
# fmt: on

# Common French first names by birth cohort and surnames, most frequent first: a data file
# (each cohort has its own fashion: a Monique is rarely under 60, an Enzo rarely over 30).
_NAMES = json.loads(
    (Path(__file__).resolve().parents[1] / "data" / "sample_names.json").read_text(encoding="utf-8")
)
# (born up to this year, women, men)
_FIRST_NAMES: tuple[tuple[int, tuple[str, ...], tuple[str, ...]], ...] = tuple(
    (int(c["born_up_to"]), tuple(c["women"]), tuple(c["men"])) for c in _NAMES["first_names"]
)
_LAST_NAMES: tuple[str, ...] = tuple(_NAMES["last_names"])

# How likely each interest is, by age group (under 30, 30–59, 60 and over), in the order
# of INTERESTS: the young lean to the climate and housing, their elders to health.
_INTEREST_WEIGHTS = np.array(
    [
        [1.0, 0.6, 0.5, 1.8, 0.9, 0.5, 1.1, 1.5, 0.9, 0.3],
        [1.5, 1.2, 0.9, 1.0, 0.6, 0.8, 1.0, 0.9, 0.5, 0.4],
        [1.3, 0.5, 1.8, 0.7, 0.8, 1.1, 0.4, 0.4, 0.6, 0.5],
    ]
)
_RURAL_AGRICULTURE_BOOST = 3.0

_EMAIL_DOMAINS = ("example.org", "example.fr")
_EMPTY_EMAIL_RATE = 0.08
_PHONE_RATE = 0.75
_MOBILE_PREFERENCE = 0.80
_MEMBERSHIP_BASIS, _CONSENT_BASIS = "adhésion", "consentement"
