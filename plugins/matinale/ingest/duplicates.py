"""Duplicates: group rows sharing a supporter_id, e-mail or phone (transitively), and merge
each group into its earliest row.

The survivor's empty fields are filled from its duplicates; consents are decided elsewhere
(the most restrictive one found wins, see ``validate``).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from matinale.ingest.schema import COUNT_FIELDS


def _key_codes(values: pa.Array) -> np.ndarray:
    """A code per row, equal codes for equal values (one hash pass, no sorting)."""
    return pc.dictionary_encode(values).indices.to_numpy(zero_copy_only=False)


def _duplicate_groups(keys: list[tuple[np.ndarray, np.ndarray]], rows: int) -> np.ndarray:
    """Group label per row: rows sharing any usable key code, transitively, share a label."""
    links: list[tuple[np.ndarray, np.ndarray]] = []
    for codes, usable in keys:
        positions = np.flatnonzero(usable)
        index = codes[positions]
        if not index.size or np.bincount(index).max() < 2:
            continue  # no value repeats: nothing to link
        # Link each row to the first row holding the same value.
        order = np.argsort(index, kind="stable")
        sorted_index = index[order]
        starts = np.flatnonzero(np.r_[True, sorted_index[1:] != sorted_index[:-1]])
        first_of = np.repeat(positions[order][starts], np.diff(np.r_[starts, sorted_index.size]))
        links.append((positions[order], first_of))
    if not links:
        return np.arange(rows, dtype=np.int64)
    return _components(
        np.concatenate([a for a, _ in links]), np.concatenate([b for _, b in links]), rows
    )


def _components(source: np.ndarray, target: np.ndarray, rows: int) -> np.ndarray:
    """Connected components of the links as the smallest row of each (label propagation
    with pointer jumping: a few numpy passes, and no scipy import in the ingest task)."""
    labels = np.arange(rows, dtype=np.int64)
    while True:
        lowest = np.minimum(labels[source], labels[target])
        updated = labels.copy()
        np.minimum.at(updated, source, lowest)
        np.minimum.at(updated, target, lowest)
        while True:  # each row points at its label's label until they agree
            jumped = updated[updated]
            if np.array_equal(jumped, updated):
                break
            updated = jumped
        if np.array_equal(updated, labels):
            return labels
        labels = updated


def _first_where(label: np.ndarray, wanted: np.ndarray) -> np.ndarray:
    """For each run of equal ``label`` (rows in file order), the position of its first
    ``wanted`` row, or of its first row when none is."""
    order = np.lexsort((np.arange(label.size), ~wanted, label))
    starts = np.flatnonzero(np.r_[True, label[order][1:] != label[order][:-1]])
    return order[starts]


def _merge_duplicates(frame: pd.DataFrame, groups: np.ndarray, members: np.ndarray) -> pd.DataFrame:
    """Fill each survivor's empty fields from its duplicates (first non-empty in file
    order); donor/volunteer if any says so; counts and consent date at their maximum; the
    place (postal code, commune, ambiguity) as one unit from the first row naming a commune.

    ``frame`` holds survivors and merged rows in file order; a group's first row survives.
    """
    involved = np.flatnonzero(np.isin(groups, np.unique(groups[members])))
    order = np.argsort(groups[involved], kind="stable")
    rows = involved[order]  # grouped, file order within each group
    label = groups[rows]
    starts = np.flatnonzero(np.r_[True, label[1:] != label[:-1]])
    survivors = rows[starts]
    updates: dict[str, np.ndarray] = {}
    for name in (
        "first_name",
        "last_name",
        "email",
        "phone",
        "legal_basis",
        "interests",
        "joined_on",
    ):
        values = frame[name].to_numpy(dtype=object)[rows]
        updates[name] = values[_first_where(label, values != "")]
    named = rows[_first_where(label, frame["insee_com"].to_numpy(dtype=object)[rows] != "")]
    for name in ("postal_code", "insee_com", "insee_candidates", "commune_ambiguous"):
        updates[name] = frame[name].to_numpy()[named]
    for name in ("donor", "volunteer"):
        updates[name] = np.logical_or.reduceat(frame[name].to_numpy(dtype=bool)[rows], starts)
    for name in COUNT_FIELDS:
        updates[name] = np.maximum.reduceat(frame[name].to_numpy(dtype=np.int64)[rows], starts)
    dates = frame["consent_date"].to_numpy(dtype=object)[rows].astype("U10")
    latest = np.lexsort((dates, label))  # within each group, the latest date comes last
    ends = np.r_[starts[1:], label.size] - 1
    updates["consent_date"] = dates[latest[ends]].astype(object)
    for name, values in updates.items():
        frame.loc[survivors, name] = values
    return frame
