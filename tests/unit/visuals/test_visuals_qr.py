"""QR codes: they decode to the tracked link and match segno's symbol and penalties."""

from __future__ import annotations

import pytest
import zxingcpp
from visuals_samples import (
    FIELDS,
    LINK,
    TEMPLATES,
    open_image,
)

from matinale.visuals import (
    qr_modules,
    render_card,
)
from matinale.visuals.qr import _penalties


@pytest.mark.parametrize("name", ["square", "landscape", "story"])
def test_qr_code_decodes_to_the_tracked_link(name: str) -> None:
    image = open_image(render_card(FIELDS, templates_dir=TEMPLATES, format=name))
    found = [
        result.text
        for result in zxingcpp.read_barcodes(image)
        if result.format == zxingcpp.BarcodeFormat.QRCode
    ]
    assert found == [LINK]
    assert "utm_medium=card" in LINK and "65plus" not in LINK


def test_qr_modules_are_a_valid_symbol_with_one_of_the_eight_masks() -> None:
    import numpy as np
    import segno

    # Short to long links: QR versions 2 to 14, with and without version information.
    links = ["https://example.org/", LINK, *(f"{LINK}&ref={'x' * n}" for n in (40, 90, 160, 260))]
    sizes = set()
    for link in links:
        ours = qr_modules(link)
        sizes.add(ours.shape[0])
        candidates = [
            np.array(segno.make(link, error="m", micro=False, mask=k).matrix, dtype=np.uint8) == 1
            for k in range(8)
        ]
        assert any(np.array_equal(ours, c) for c in candidates), link
    assert min(sizes) < 45 <= max(sizes)  # version 7+ carries version information


def test_mask_penalty_agrees_with_segno_on_runs_blocks_and_balance() -> None:
    import numpy as np
    from segno import encoder

    rng = np.random.default_rng(7)
    for _ in range(20):
        size = 21 + 4 * int(rng.integers(0, 6))
        matrix = rng.random((size, size)) < rng.uniform(0.3, 0.7)
        n1, n2, n3, n4 = encoder.mask_scores(
            [bytearray(row) for row in matrix.astype(np.uint8)], size, size
        )
        ours = int(_penalties(matrix[None])[0])
        # N3 counts finder-like patterns touching the edge too (the quiet zone is light).
        assert ours - (n1 + n2 + n4) >= n3 and (ours - (n1 + n2 + n4)) % 40 == 0
