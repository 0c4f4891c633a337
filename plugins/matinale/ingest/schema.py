"""What a supporter file holds: its fields, the header spellings that mean each of them,
the age limits, and the errors that make a file as a whole unusable.

Headers may be French or English (``ALIASES``); lookup folds case, accents, spaces,
underscores and punctuation (``canonical_header``).
"""

from __future__ import annotations

import re
import unicodedata

from matinale.contacts import CONSENT_FIELDS
from matinale.errors import MatinaleError

__all__ = [
    "ALIASES",
    "BOOLEAN_FIELDS",
    "CONSENT_FIELDS",
    "COUNT_FIELDS",
    "DATE_FIELDS",
    "DuplicateColumnError",
    "EmptyFileError",
    "FIELDS",
    "IngestError",
    "MAX_AGE",
    "MIN_AGE",
    "MissingColumnError",
    "UnreadableFileError",
    "canonical_header",
]

MIN_AGE = 16
MAX_AGE = 110

# Every field and the header spellings that mean it. Lookup folds case, accents, spaces,
# underscores and punctuation (``canonical_header``), so "Date de naissance",
# "date_naissance" and "DATE-DE-NAISSANCE" are one entry.
# fmt: off
_FIELDS: dict[str, tuple[str, ...]] = {
    "supporter_id": (
        "supporter_id", "id", "identifiant", "id_sympathisant", "id_supporter", "id_contact",
        "contact_id", "numero_adherent", "n_adherent", "id_adherent", "ref", "reference",
    ),
    "first_name": ("first_name", "prenom", "firstname", "given_name"),
    "last_name": ("last_name", "nom", "lastname", "nom_de_famille", "surname", "family_name"),
    "email": (
        "email", "e-mail", "courriel", "mail", "adresse_email", "adresse_e-mail", "adresse_mail",
        "adresse_courriel", "email_address",
    ),
    "phone": (
        "phone", "telephone", "portable", "mobile", "tel", "tel_portable", "telephone_portable",
        "numero_de_telephone", "numero_telephone", "n_de_telephone", "n_telephone", "phone_number", "mobile_phone", "gsm",
    ),
    "birth_date": (
        "birth_date", "date_de_naissance", "date_naissance", "naissance", "birthdate",
        "date_of_birth", "dob", "ne_le", "nee_le",
    ),
    "age": ("age", "age_ans"),
    "postal_code": ("postal_code", "code_postal", "cp", "zip", "zip_code", "postcode"),
    "insee_com": ("insee_com", "code_insee", "insee", "code_commune", "code_commune_insee", "commune_insee"),
    "consent_email": ("consent_email", "consentement_email", "consentement_courriel", "optin_email", "opt_in_email"),
    "consent_sms": ("consent_sms", "consentement_sms", "optin_sms", "opt_in_sms"),
    "consent_whatsapp": ("consent_whatsapp", "consentement_whatsapp", "optin_whatsapp", "opt_in_whatsapp"),
    "consent_social": (
        "consent_social", "consentement_reseaux", "consentement_reseaux_sociaux", "optin_social", "opt_in_social",
    ),
    "consent_date": ("consent_date", "date_consentement", "date_du_consentement", "date_de_consentement"),
    "legal_basis": ("legal_basis", "base_legale", "fondement", "fondement_juridique", "base_juridique"),
    "joined_on": ("joined_on", "date_adhesion", "date_d_adhesion", "date_inscription", "date_d_inscription", "inscrit_le", "joined"),
    "interests": ("interests", "centres_interet", "centres_d_interet", "interets", "thematiques", "themes"),
    "events_attended": ("events_attended", "evenements", "nb_evenements", "evenements_suivis", "nombre_evenements"),
    "shares_30d": ("shares_30d", "partages_30j", "partages", "partages_30_jours", "nb_partages"),
    "donor": ("donor", "donateur", "donatrice", "donateur_rice"),
    "volunteer": ("volunteer", "benevole", "militant"),
}
# fmt: on
FIELDS: tuple[str, ...] = tuple(_FIELDS)
BOOLEAN_FIELDS = (*CONSENT_FIELDS, "donor", "volunteer")
COUNT_FIELDS = ("events_attended", "shares_30d")
DATE_FIELDS = ("birth_date", "consent_date", "joined_on")


def canonical_header(header: str) -> str:
    """Fold a header for lookup: lowercase, no accents, letters and digits only."""
    text = unicodedata.normalize("NFKD", str(header).strip().lstrip("\ufeff"))
    text = "".join(ch for ch in text if not unicodedata.combining(ch)).lower()
    return re.sub(r"[^a-z0-9]+", "", text)


ALIASES: dict[str, str] = {
    canonical_header(name): name_field for name_field, names in _FIELDS.items() for name in names
}


class IngestError(MatinaleError, ValueError):
    """The file as a whole cannot be used: the night stops and nothing is published."""


class UnreadableFileError(IngestError):
    """The file is missing, unreadable, or not a CSV/Parquet supporter export."""


class EmptyFileError(IngestError):
    """The file holds no supporter row."""


class MissingColumnError(IngestError):
    """A required column (supporter_id) is not in the header."""


class DuplicateColumnError(IngestError):
    """Two columns of the header mean the same field."""
