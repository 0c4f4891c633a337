"""Privacy rules that every stage stands on (GDPR/CNIL: political opinion is sensitive).

- Only adults are segmented and messaged; minors are counted, never used.
- Segmentation sees only allowed features; contact details never leave the private store.
- Reports and logs get counts or masked values, never a person.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

__all__ = [
    "ADULT_AGE",
    "CONTACT_FIELDS",
    "PrivacySplit",
    "compliance_counts",
    "mask_email",
    "mask_value",
    "split_for_segmentation",
]

ADULT_AGE = 18
CONTACT_FIELDS = ("first_name", "last_name", "email", "phone")
CONSENT_CHANNELS = {"email": "consent_email", "sms": "consent_sms", "whatsapp": "consent_whatsapp", "social": "consent_social"}
#: Features a segmentation may use (anything else is refused by segment definitions).
SEGMENTATION_FEATURES = (
    "age",
    "interests",
    "events_attended",
    "shares_30d",
    "donor",
    "volunteer",
    "insee_com",
    "postal_code",
)


def mask_email(value: str) -> str:
    """``jeanne.martin@example.org`` → ``j***@e***.org``."""
    local, _, domain = value.partition("@")
    if not domain:
        return mask_value(value)
    host, _, tld = domain.rpartition(".")
    return f"{local[:1]}***@{(host or tld)[:1]}***.{tld if host else ''}".rstrip(".")


def mask_value(value: str) -> str:
    """Keep the first and last characters of a short code, hide the rest."""
    text = str(value)
    if len(text) <= 2:
        return "*" * len(text)
    return f"{text[0]}{'*' * min(len(text) - 2, 6)}{text[-1]}"


@dataclass
class PrivacySplit:
    """What segmentation may see, what stays private, and who was left out."""

    features: pd.DataFrame
    contacts: pd.DataFrame
    minors: int


def split_for_segmentation(valid: pd.DataFrame) -> PrivacySplit:
    """Adults' allowed features for segmentation; contacts kept apart for the delivery file."""
    adults = valid["age"] >= ADULT_AGE
    columns = ["supporter_id", *[c for c in SEGMENTATION_FEATURES if c in valid.columns]]
    contacts = valid.loc[adults, ["supporter_id", *CONTACT_FIELDS, *CONSENT_CHANNELS.values(), "legal_basis"]]
    return PrivacySplit(
        features=valid.loc[adults, columns].reset_index(drop=True),
        contacts=contacts.reset_index(drop=True),
        minors=int((~adults).sum()),
    )


def compliance_counts(valid: pd.DataFrame) -> dict[str, dict[str, int]]:
    """Consents per channel and per legal basis: counts only, never people."""
    by_channel = {name: int(valid[column].sum()) for name, column in CONSENT_CHANNELS.items() if column in valid}
    basis = valid["legal_basis"].replace("", "non renseignée").value_counts().sort_index()
    return {"consent_by_channel": by_channel, "legal_basis": {str(k): int(v) for k, v in basis.items()}}
