"""French alt texts of the cards: what each card says and what it shows."""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import urlsplit

__all__ = ["FORMAT_LABELS", "alt_text"]


#: How alt texts name each format, in French.
FORMAT_LABELS: dict[str, str] = {
    "square": "carré",
    "landscape": "paysage",
    "story": "vertical (format story)",
}


def _de(name: str) -> str:
    """French elision: « de Camille », « d’Ensemble Demain »."""
    return f"d’{name}" if name[:1].lower() in "aeiouyhàâéèêëîïôûü" else f"de {name}"


def _quoted(label: str, text: str) -> str:
    text = " ".join(text.split())
    end = "" if text.endswith((".", "!", "?", "…")) else "."
    return f"{label} : « {text} »{end}"


def alt_text(fields: Mapping[str, str], *, format: str, campaign: str) -> str:
    """The French alt text of a card: what it says and what it shows."""
    parts = [f"Visuel {FORMAT_LABELS.get(format, format)} aux couleurs {_de(campaign)}."]
    if fields.get("tagline"):
        parts.append(_quoted("En tête", fields["tagline"]))
    parts.append(_quoted("Titre", fields.get("headline", "")))
    if fields.get("body"):
        parts.append(_quoted("Texte", fields["body"]))
    if fields.get("cta"):
        parts.append(_quoted("Appel à l’action", fields["cta"]))
    if fields.get("link"):
        parts.append(f"Un code QR mène à {_display_link(fields['link'])}.")
    parts.append("En bas, la mention légale de la campagne.")
    return " ".join(parts)


def _display_link(link: str) -> str:
    """The link as a reader would say it: host and path, without tracking parameters."""
    parts = urlsplit(link)
    return f"{parts.netloc}{parts.path}".rstrip("/")
