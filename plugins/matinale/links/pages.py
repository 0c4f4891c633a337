"""The small French pages the service answers with when it does not redirect."""

from __future__ import annotations

import base64
import hashlib
from html import escape

__all__ = ["PAGES", "STYLE_HASH", "page"]

STYLE = (
    "body{font-family:system-ui,sans-serif;max-width:32rem;margin:4rem auto;padding:0 1rem;"
    "color:#1d1d1b;line-height:1.5}h1{font-size:1.4rem}"
)
STYLE_HASH = base64.b64encode(hashlib.sha256(STYLE.encode("utf-8")).digest()).decode("ascii")
"""The CSP allows this one style block and nothing else."""

PAGES: dict[str, tuple[int, str, str]] = {
    "not_published": (
        404,
        "Pas encore publiée",
        "L’édition de ce matin n’est pas encore publiée. Revenez dans quelques minutes.",
    ),
    "withdrawn": (
        410,
        "Édition retirée",
        "Cette édition a été retirée par l’équipe de campagne. La prochaine arrive demain matin.",
    ),
    "replaced": (
        410,
        "Lien remplacé",
        "Ce lien a été remplacé. Demandez le nouveau lien à la personne qui vous l’a envoyé.",
    ),
    "unknown": (
        404,
        "Lien inconnu",
        "Ce lien n’existe pas. Vérifiez qu’il a été copié en entier.",
    ),
    "too_many": (
        429,
        "Trop de demandes",
        "Trop de demandes en peu de temps. Réessayez dans une minute.",
    ),
    "unavailable": (
        503,
        "Service indisponible",
        "Le service est momentanément indisponible. Réessayez dans quelques minutes.",
    ),
}


def page(kind: str) -> tuple[int, bytes]:
    """The status and the HTML of one of :data:`PAGES`."""
    status, title, text = PAGES[kind]
    html = (
        '<!doctype html><html lang="fr"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width,initial-scale=1">'
        f'<meta name="robots" content="noindex"><title>{escape(title)}</title>'
        f"<style>{STYLE}</style></head><body><h1>{escape(title)}</h1><p>{escape(text)}</p>"
        "</body></html>"
    )
    return status, html.encode("utf-8")
