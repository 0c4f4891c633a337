"""The fixed data the sample generator draws from: columns, interests, fiction phone blocks,
phone zones, first names by cohort, surnames, interest weights and rates.

Kept apart from :mod:`matinale.dev.sample` so the generator reads as code; every value here
shapes what the generated supporters look like, so a change here changes every sample file.
"""

from __future__ import annotations

from datetime import date

import numpy as np

# A fixed "today" so that the same seed gives the same ages and dates on any day.
REFERENCE_DATE = date(2026, 11, 1)

COLUMNS = (
    "supporter_id",
    "first_name",
    "last_name",
    "email",
    "phone",
    "birth_date",
    "postal_code",
    "insee_com",
    "consent_email",
    "consent_sms",
    "consent_whatsapp",
    "consent_social",
    "consent_date",
    "legal_basis",
    "joined_on",
    "interests",
    "events_attended",
    "shares_30d",
    "donor",
    "volunteer",
)

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
# (hand-laid data tables: one cohort, zone group or row of names per line)
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

# Common French first names by birth cohort, most frequent first. Each cohort has its own
# fashion: a Monique is rarely under 60, an Enzo rarely over 30.
_FIRST_NAMES: tuple[tuple[int, tuple[str, ...], tuple[str, ...]], ...] = (
    # (born up to this year, women, men)
    (
        1954,
        ("Marie", "Jeanne", "Monique", "Françoise", "Jacqueline", "Colette", "Denise", "Simone",
         "Michèle", "Nicole", "Paulette", "Odette", "Yvette", "Annie", "Danielle"),
        ("Jean", "Pierre", "Michel", "André", "Jacques", "Bernard", "René", "Claude", "Roger",
         "Robert", "Marcel", "Gérard", "Louis", "Georges", "Henri"),
    ),
    (
        1969,
        ("Martine", "Catherine", "Christine", "Sylvie", "Isabelle", "Brigitte", "Nathalie",
         "Dominique", "Chantal", "Véronique", "Patricia", "Évelyne", "Marie-France", "Pascale", "Anne"),
        ("Philippe", "Alain", "Patrick", "Daniel", "Christian", "Jean-Pierre", "Gilles", "Dominique",
         "Thierry", "Didier", "Pascal", "Éric", "Jean-Claude", "Serge", "Bruno"),
    ),
    (
        1984,
        ("Sandrine", "Stéphanie", "Valérie", "Céline", "Sophie", "Karine", "Virginie", "Aurélie",
         "Laurence", "Émilie", "Caroline", "Nadia", "Julie", "Séverine", "Delphine"),
        ("Christophe", "Stéphane", "Sébastien", "Frédéric", "Laurent", "Olivier", "Nicolas", "David",
         "Julien", "Jérôme", "Vincent", "Cédric", "Franck", "Karim", "Mathieu"),
    ),
    (
        1999,
        ("Camille", "Marine", "Laura", "Julie", "Pauline", "Manon", "Élodie", "Mélanie", "Sarah",
         "Anaïs", "Claire", "Charlotte", "Amandine", "Audrey", "Léa"),
        ("Thomas", "Nicolas", "Kevin", "Maxime", "Alexandre", "Romain", "Anthony", "Guillaume",
         "Antoine", "Quentin", "Florian", "Mehdi", "Benjamin", "Jérémy", "Clément"),
    ),
    (
        9999,
        ("Emma", "Léa", "Chloé", "Inès", "Manon", "Camille", "Jade", "Lina", "Sarah", "Clara",
         "Lucie", "Océane", "Louise", "Zoé", "Yasmine"),
        ("Lucas", "Hugo", "Enzo", "Théo", "Nathan", "Louis", "Mathis", "Tom", "Raphaël", "Noah",
         "Adam", "Gabriel", "Ethan", "Rayan", "Arthur"),
    ),
)

# Common surnames in France, most frequent first.
_LAST_NAMES = (
    "Martin", "Bernard", "Thomas", "Petit", "Robert", "Richard", "Durand", "Dubois", "Moreau",
    "Laurent", "Simon", "Michel", "Lefèvre", "Leroy", "Roux", "David", "Bertrand", "Morel",
    "Fournier", "Girard", "Bonnet", "Dupont", "Lambert", "Fontaine", "Rousseau", "Vincent",
    "Muller", "Lefebvre", "Faure", "André", "Mercier", "Blanc", "Guérin", "Boyer", "Garnier",
    "Chevalier", "François", "Legrand", "Gauthier", "Garcia", "Perrin", "Robin", "Clément",
    "Morin", "Nicolas", "Henry", "Roussel", "Mathieu", "Gautier", "Masson", "Marchand", "Duval",
    "Denis", "Dumont", "Marie", "Lemaire", "Noël", "Meyer", "Dufour", "Meunier", "Brun",
    "Blanchard", "Giraud", "Joly", "Rivière", "Lucas", "Brunet", "Gaillard", "Barbier", "Arnaud",
    "Martinez", "Gérard", "Roche", "Renard", "Schmitt", "Roy", "Leroux", "Colin", "Vidal",
    "Caron", "Picard", "Roger", "Fabre", "Aubert", "Lemoine", "Renaud", "Dumas", "Lacroix",
    "Olivier", "Philippe", "Bourgeois", "Pierre", "Benoît", "Rey", "Leclerc", "Payet", "Rolland",
    "Leclercq", "Guillaume", "Lecomte", "Lopez", "Jean", "Dupuy", "Guillot", "Hubert", "Berger",
    "Carpentier", "Sanchez", "Dupuis", "Moulin", "Louis", "Deschamps", "Huet", "Vasseur", "Perez",
    "Boucher", "Fleury", "Royer", "Klein", "Jacquet", "Adam", "Paris", "Poirier", "Marty",
    "Aubry", "Guyot", "Carré", "Charles", "Renault", "Charpentier", "Ménard", "Maillard", "Baron",
    "Bertin", "Bailly", "Hervé", "Schneider", "Fernandez", "Le Gall", "Collet", "Léger",
    "Bouvier", "Julien", "Prévost", "Millet", "Perrot", "Daniel", "Le Roux", "Cousin", "Germain",
    "Breton", "Besson", "Langlois", "Rémy", "Le Goff", "Pelletier", "Lévêque", "Perrier",
    "Leblanc", "Barré", "Lebrun", "Marchal", "Weber", "Mallet", "Hamon", "Boulanger", "Jacob",
    "Monnier", "Michaud", "Rodriguez", "Guichard", "Gillet", "Étienne", "Grondin", "Poulain",
    "Tessier", "Chevallier", "Collin", "Chauvin", "Da Silva", "Bouchet", "Gay", "Lemaître",
    "Bénard", "Maréchal", "Humbert", "Reynaud", "Antoine", "Hoarau", "Perret", "Barthélemy",
    "Cordier", "Pichon", "Lejeune", "Gilbert", "Lamy", "Delaunay", "Pasquier", "Carlier",
    "Laporte", "Nguyen", "Dos Santos", "Ferreira", "Pereira", "Diallo", "Haddad", "Benali",
    "Gomez", "Traoré", "Cohen",
)

# fmt: on

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
