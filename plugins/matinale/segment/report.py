"""The staff report: representativeness against France (INSEE) and the French Markdown report."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from matinale.geo import commune_arrays, commune_rows
from matinale.privacy import ADULT_AGE
from matinale.segment.definitions import AgeBand
from matinale.segment.describe import _masked_count, round_size
from matinale.segment.features import DEFAULT_INTERESTS
from matinale.segment.types import Segment

__all__ = [
    "INSEE_ADULTS_BY_AGE",
    "INSEE_AGE_SOURCE",
    "render_report",
    "representativeness",
]


#: France's population by single year of age, 18 to 99 (the last value is 99 and over), at
#: 1 January 2022, both sexes, France including Mayotte (67,813,396 people of all ages).
# fmt: off
INSEE_ADULTS_BY_AGE: tuple[int, ...] = (
    831528, 827807, 830697, 835200, 778873, 765236, 741535, 746399, 738131, 722662,  # 18-27
    728320, 764166, 779572, 801165, 806948, 821127, 824250, 839830, 838306, 834328,  # 28-37
    820145, 868806, 874869, 886274, 837272, 818115, 820176, 799456, 824241, 866161,  # 38-47
    907462, 927759, 921723, 900060, 888235, 875245, 871895, 890989, 891608, 899644,  # 48-57
    887307, 856255, 853667, 846060, 839655, 816587, 809514, 800032, 787325, 779454,  # 58-67
    760616, 768507, 743139, 764252, 744985, 736777, 715221, 666821, 498019, 478997,  # 68-77
    459971, 418516, 365621, 371202, 379585, 357369, 337938, 322009, 294853, 278596,  # 78-87
    246130, 229535, 197481, 172622, 135469, 111515, 88537, 69657, 53102, 38627,  # 88-97
    27946, 50171,  # 98, 99+
)
# fmt: on
INSEE_AGE_SOURCE = (
    "Insee, estimations de population au 1er janvier 2022 par âge détaillé, France "
    "(y compris Mayotte), pyramide des âges interactive "
    "(https://www.insee.fr/fr/outil-interactif/5014911/pyramide.htm), fichier "
    "donnees_pyramide_act.csv extrait le 24 juin 2022"
)
_INSEE_DEPARTEMENT_SOURCE = (
    "Insee, population municipale 2021 (comparateur de territoires 2024), tous âges, "
    "table des communes livrée avec Matinale (matinale.geo)"
)
_OVER, _UNDER = 1.25, 0.80  # representation index thresholds for the report's flags


# --------------------------------------------------------------------------- representativeness


def _band_population(bands: Sequence[AgeBand]) -> np.ndarray:
    ages = np.arange(ADULT_AGE, ADULT_AGE + len(INSEE_ADULTS_BY_AGE))
    counts = np.asarray(INSEE_ADULTS_BY_AGE, dtype=np.int64)
    out = np.zeros(len(bands), dtype=np.int64)
    for i, band in enumerate(bands):
        # The last INSEE value is "99 and over": it belongs to the band holding 99.
        inside = (ages >= band.min) & (
            (ages <= band.max) | ((ages == ages[-1]) & (band.max >= ages[-1]))
        )
        out[i] = counts[inside].sum()
    return out


def _flag(index: float | None) -> str:
    if index is None:
        return "sans objet"
    if index >= _OVER:
        return "sur-représenté"
    if index <= _UNDER:
        return "sous-représenté"
    return "conforme"


def _compared(
    count: int, total: int, people: float, population: float, digits: int
) -> dict[str, Any]:
    """A group's share of the supporters against its share of France's population (INSEE).

    Shares are rounded to ``digits``, the gap in points to ``digits - 3``.
    """
    share_s = count / total if total else 0.0
    share_p = people / population if population else 0.0
    index = share_s / share_p if share_p else None
    return {
        "supporters": count,
        "share": round(share_s, digits),
        "insee_share": round(share_p, digits),
        "gap_points": round((share_s - share_p) * 100, digits - 3),
        "index": round(index * 100) if index is not None else None,
        "flag": _flag(index),
    }


def _representativeness_arrays(
    ages: np.ndarray, dep: np.ndarray, bands: Sequence[AgeBand]
) -> dict[str, Any]:
    geo = commune_arrays()
    edges = np.array([b.min for b in bands[1:]])
    band = np.searchsorted(edges, ages[ages >= ADULT_AGE], side="right")
    supporters = np.bincount(band, minlength=len(bands))
    population = _band_population(bands)
    total_s, total_p = supporters.sum(), population.sum()
    by_band = [
        {
            "band": b.id,
            "label": b.label,
            **_compared(int(supporters[i]), int(total_s), float(population[i]), float(total_p), 4),
        }
        for i, b in enumerate(bands)
    ]
    known = dep[dep >= 0]
    counts = np.bincount(known, minlength=len(geo.dep_codes))
    pop = geo.dep_population
    by_dep = [
        {
            "code": code,
            "name": geo.dep_names[i],
            **_compared(int(counts[i]), int(known.size), float(pop[i]), float(pop.sum()), 5),
        }
        for i, code in enumerate(geo.dep_codes)
    ]
    return {
        "age_bands": by_band,
        "departements": by_dep,
        "place_unknown": int((dep < 0).sum()),
        "sources": {"age": INSEE_AGE_SOURCE, "departements": _INSEE_DEPARTEMENT_SOURCE},
        "method": (
            "indice = part parmi les soutiens / part dans la population INSEE × 100 ; "
            f"≥ {round(_OVER * 100)} : sur-représenté, ≤ {round(_UNDER * 100)} : sous-représenté. "
            "Départements : population de tous âges (les soutiens sont majeurs), à lire comme un ordre de grandeur."
        ),
    }


def representativeness(frame: pd.DataFrame, bands: Sequence[AgeBand]) -> dict[str, Any]:
    """How far a group (the supporter base, a questionnaire's respondents) is from France.

    ``frame`` needs ``age`` and ``insee_com`` or ``postal_code``; compares by age band with
    France's national age structure (``INSEE_ADULTS_BY_AGE``) and by département with the
    INSEE population of the shipped commune table.
    """
    ages = frame["age"].astype("Int64").fillna(-1).to_numpy(np.int64)
    dep = commune_arrays().dep[commune_rows(frame)]
    return _representativeness_arrays(ages, dep, bands)


# --------------------------------------------------------------------------- report


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{value * 100:.0f} %"


def _shift_text(moved: float | None, threshold: float | None) -> str:
    return "–" if moved is None else f"{moved:.2f} (seuil {threshold})"


def _cell(text: Any) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def render_report(
    segments: Sequence[Segment],
    report: Mapping[str, Any],
    *,
    interests: Mapping[str, str] | None = None,
) -> str:
    """The staff report as Markdown (French): segments, drift, merges, territories, representativeness."""
    interests = interests or DEFAULT_INTERESTS
    lines = [f"# Segmentation — édition du {report.get('edition') or '?'}", ""]
    model = report.get("model", {})
    lines += [
        f"- Adultes segmentés : {report.get('segmented', 0)} ; mineurs exclus : {report.get('minors_excluded', 0)} ; "
        f"commune inconnue : {report.get('place_unknown', 0)}",
        f"- Taille minimale d'un segment : {report.get('min_segment_size')} ; tailles publiées arrondies à 10",
        f"- Modèle : {model.get('pipeline', '')} ; k = {model.get('k')} ({model.get('k_method', '')}) ; "
        f"variables : {', '.join(model.get('features', []))} ; échantillon d'apprentissage : {model.get('sample_size')} ; graine : {model.get('seed')}",
        "",
        "## Segments",
        "",
        "| Segment | Libellé | Taille | Âge médian (p25–p75) | Intérêts principaux | Territoire | Évolution |",
        "|---|---|---:|---|---|---|---|",
    ]
    status = report.get("identity", {}).get("status", {})
    by_id = {s["id"]: s for s in report.get("segments", [])}
    for segment in segments:
        if segment.kind != "main":
            continue
        d = by_id.get(segment.id, {}).get("descriptor", {})
        age = d.get("age", {})
        top = ", ".join(
            f"{interests.get(k, k)} {_pct(v)}" for k, v in list(d.get("interests", {}).items())[:3]
        )
        density = d.get("density", {})
        dominant = max(density, key=lambda k: density[k]) if density else ""
        territory = f"{dominant} {_pct(density.get(dominant))}" if dominant else ""
        if d.get("departements"):
            territory += "; " + ", ".join(
                f"{x['name']} {_pct(x['share'])}" for x in d["departements"][:2]
            )
        lines.append(
            f"| {segment.id} | {_cell(segment.label)} | {segment.size} | {age.get('median')} ({age.get('p25')}–{age.get('p75')}) | "
            f"{_cell(top)} | {_cell(territory)} | {status.get(segment.profile, '')} |"
        )
    drift = report.get("drift", {})
    identity = report.get("identity", {})
    lines += ["", "## Stabilité d'une nuit à l'autre", ""]
    if not identity.get("base_edition"):
        lines.append(
            "Première segmentation (aucun état de la veille) : les profils sont numérotés du plus grand au plus petit."
        )
    else:
        lines.append(f"Comparaison avec l'édition du {identity['base_edition']}.")
        if "moved_share" in drift:
            lines.append(
                f"- Personnes ayant changé de segment : {_pct(drift['moved_share'])} ; de profil : {_pct(drift.get('profile_moved_share'))} "
                f"(sur {drift.get('supporters_both_nights')} présentes les deux nuits ; nouvelles : {drift.get('new_supporters')}, parties : {drift.get('gone_supporters')})"
            )
        elif drift.get("note"):
            lines.append(f"- {drift['note']}")
        lines.append(
            f"- Profils retirés (identifiants jamais réutilisés) : {', '.join(identity.get('retired') or []) or 'aucun'}"
        )
        if identity.get("note"):
            lines.append(f"- {identity['note']}")
    lines += [
        "",
        "| Profil | Libellé | Adultes | Statut | Déplacement du centre (seuil) |",
        "|---|---|---:|---|---|",
    ]
    for profile in report.get("profiles", []):
        moved = profile.get("centroid_shift")
        lines.append(
            f"| {profile['id']} | {_cell(profile['label'])} | {_masked_count(profile['size'], report.get('min_segment_size', 0))} | {profile['status']} | "
            f"{_shift_text(moved, identity.get('max_shift'))} |"
        )
    merges = report.get("band_merges", []) + report.get("segment_merges", [])
    if merges:
        lines += ["", "## Regroupements (taille minimale)", ""]
        for merge in report.get("band_merges", []):
            lines.append(
                f"- Tranches {' + '.join(merge['bands'])} regroupées ({merge['adults']} adultes) sous l'identifiant {merge['kept_id']}"
            )
        for merge in report.get("segment_merges", []):
            lines.append(
                f"- {merge['from']} ({merge['size']} personnes) fusionné dans {merge['into']}"
            )
    if report.get("territories"):
        lines += [
            "",
            "## Packs territoriaux",
            "",
            "| Pack | Territoire | Niveau | Thème | Taille | Publié |",
            "|---|---|---|---|---:|---|",
        ]
        for pack in report["territories"]:
            size = round_size(pack["size"]) if isinstance(pack["size"], int) else pack["size"]
            lines.append(
                f"| {pack['id']} | {_cell(pack['name'])} | {pack['level']} | {pack.get('theme') or ''} | {size} | "
                f"{'oui' if pack['published'] else 'non : ' + pack.get('reason', '')} |"
            )
    rep = report.get("representativeness")
    if rep:
        lines += [
            "",
            "## Représentativité",
            "",
            rep["method"],
            "",
            "### Par tranche d'âge",
            "",
            f"Source : {rep['sources']['age']}.",
            "",
            "| Tranche | Soutiens | Part | Part INSEE | Écart (points) | Indice | Lecture |",
            "|---|---:|---:|---:|---:|---:|---|",
        ]
        for row in rep["age_bands"]:
            lines.append(
                f"| {_cell(row['label'])} | {row['supporters']} | {_pct(row['share'])} | {_pct(row['insee_share'])} | {row['gap_points']:+.1f} | "
                f"{row['index'] if row['index'] is not None else '–'} | {row['flag']} |"
            )
        deps = [row for row in rep["departements"] if row["index"] is not None]
        over = sorted(deps, key=lambda r: -r["index"])[:10]
        under = sorted(deps, key=lambda r: r["index"])[:10]
        lines += [
            "",
            "### Par département",
            "",
            f"Source : {rep['sources']['departements']}. Commune inconnue : {rep['place_unknown']}.",
            "",
        ]
        for title, rows in (
            ("Les plus sur-représentés", over),
            ("Les plus sous-représentés", under),
        ):
            lines += [
                f"**{title}**",
                "",
                "| Département | Soutiens | Part | Part INSEE | Indice | Lecture |",
                "|---|---:|---:|---:|---:|---|",
            ]
            for row in rows:
                lines.append(
                    f"| {row['code']} {_cell(row['name'])} | {row['supporters']} | {row['share'] * 100:.2f} % | {row['insee_share'] * 100:.2f} % | "
                    f"{row['index']} | {row['flag']} |"
                )
            lines.append("")
        lines.append(
            "Le tableau complet des 101 départements est dans segments.json (report.representativeness)."
        )
    for note in report.get("notes", []):
        lines += ["", f"> {note}"]
    return "\n".join(lines).rstrip() + "\n"
