"""The ``matinale territories`` command (added to the CLI by :func:`add_commands`).

Prints the ranking with the figures behind each rank, or ``--json``. Reach comes from a
supporter file (``--supporters``, default the newest in the inbox); without one, territories
are ranked on their remobilisation potential alone. Territories under the k-anonymity floor
(``privacy.min_segment_size``) are not shown.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pandas as pd

__all__ = ["add_commands"]

_DEFAULT_FLOOR = 50


def _supporter_rows(path: Path) -> np.ndarray:
    """The commune rows (``geo.communes_by_insee()``) of the supporters in a CSV or Parquet file."""
    from matinale.geo import commune_rows

    wanted = ["insee_com", "postal_code"]
    if path.suffix == ".parquet":
        frame = pd.read_parquet(path)
    else:
        frame = pd.read_csv(
            path,
            dtype=str,
            keep_default_na=False,
            na_values=[""],
            sep=None,
            engine="python",
            usecols=lambda column: column in wanted,
        )
    return commune_rows(frame[[c for c in wanted if c in frame]])


def _context(args: argparse.Namespace) -> tuple[int, Path | None, Path | None]:
    """The k-anonymity floor, territories.yaml and the supporter file, from campaign.yaml."""
    from matinale.settings import SettingsError, load_settings

    supporters = Path(args.supporters) if args.supporters else None
    try:
        settings = load_settings()
    except SettingsError:
        return _DEFAULT_FLOOR, None, supporters
    from matinale.segment import load_profiles

    profiles = load_profiles(settings.segments_dir / "profiles.yaml")
    yaml_file = settings.segments_dir / profiles.territories if profiles.territories else None
    if supporters is None and not args.no_supporters:
        from matinale.night.run import NightError, newest_supporter_file

        try:
            supporters = newest_supporter_file(settings.inbox)
        except NightError:
            supporters = None
    return settings.min_segment_size, yaml_file, supporters


def _cmd_territories(args: argparse.Namespace) -> int:
    from matinale.territories.config import load_territory_settings
    from matinale.territories.night import territories_document
    from matinale.territories.score import rank_territories

    floor, yaml_file, supporters = _context(args)
    rows = _supporter_rows(supporters) if supporters and not args.no_supporters else None
    ranking = rank_territories(rows, load_territory_settings(yaml_file))
    document = territories_document(ranking, floor, rows=args.top)
    if args.json:
        print(json.dumps(document, ensure_ascii=False, indent=1))
        return 0
    source = (
        f"sympathisants : {supporters}" if rows is not None else "sans fichier de sympathisants"
    )
    print(f"Territoires prioritaires ({source} ; seuil {floor})")
    print(ranking.formula)
    header = f"{'rang':>4}  {'insee':<5}  {'territoire':<32} {'score':>12} {'abst. %':>7} {'abstent.':>9}"
    if ranking.has_supporters:
        header += f" {'symp.':>7} {'‰ hab.':>7}"
    print(header)
    for item in document["territories"]:
        line = (
            f"{item['rank']:>4}  {item['insee']:<5}  {item['nom'][:32]:<32} {item['score']:>12,.1f}"
            f" {item['abstention']:>7.1f} {item['potential']:>9,}"
        )
        if ranking.has_supporters:
            line += f" {item['supporters']:>7,} {item['reach']:>7.2f}"
        print(line.replace(",", "\u202f"))
    counts = document["counts"]
    print(
        f"{counts['ranked']} territoires classables ; écartés : {counts['plm_whole']} villes entières"
        f" (Paris, Lyon, Marseille : classées par arrondissement), {counts['abroad']} bureaux à"
        f" l’étranger, {counts['merged']} communes fusionnées depuis le scrutin ;"
        f" {counts['no_coordinates']} sans coordonnées (hors carte)."
    )
    print(document["attribution"])
    return 0


def add_commands(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add ``matinale territories`` to the CLI's subcommands."""
    parser = commands.add_parser(
        "territories",
        help="priority territories: past abstention × tonight's supporters, with the figures",
    )
    parser.add_argument("--top", type=int, default=30, help="how many territories (default 30)")
    parser.add_argument("--json", action="store_true", help="print JSON (codes as text)")
    parser.add_argument("--supporters", help="a supporter file (default: the newest in the inbox)")
    parser.add_argument(
        "--no-supporters", action="store_true", help="rank on the potential alone (no reach)"
    )
    parser.set_defaults(func=_cmd_territories)
