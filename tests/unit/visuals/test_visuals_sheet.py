"""Contact strips and contact sheets."""

from __future__ import annotations

import pytest
from visuals_samples import (
    FIELDS,
    TEMPLATES,
    open_image,
)

from matinale.visuals import (
    CardError,
    CardJob,
    contact_sheets,
    contact_strip,
    render_cards,
)


def test_contact_sheet_pages_hold_every_strip() -> None:
    jobs = [
        CardJob(segment=f"s{i}", theme=t, fields=FIELDS)
        for i in range(3)
        for t in ("sante", "ecole")
    ]
    cards = list(render_cards(jobs, templates_dir=TEMPLATES, workers=1))
    rows = [
        (f"Segment {i}\ns{i}", contact_strip([c for c in cards if c.segment == f"s{i}"]))
        for i in range(3)
    ]
    strip = open_image(rows[0][1])
    assert strip.height <= 100 and strip.width > 6 * 50  # 2 themes × 3 formats side by side
    one = contact_sheets(rows, title="Planche contact", templates_dir=TEMPLATES)
    two = contact_sheets(rows, title="Planche contact", templates_dir=TEMPLATES, rows_per_page=2)
    assert len(one) == 1 and len(two) == 2
    sheet = open_image(one[0])
    assert (
        sheet.format == "JPEG" and sheet.width >= strip.width and sheet.height >= 3 * strip.height
    )
    with pytest.raises(CardError, match="no card strip"):
        contact_sheets([], title="x", templates_dir=TEMPLATES)
