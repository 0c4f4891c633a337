"""QR codes of the cards' tracked links: encoded with segno, placed and masked with numpy."""

from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING

from matinale.visuals.errors import CardError

if TYPE_CHECKING:
    import numpy as np
    from PIL import Image

    from matinale.visuals.kit import CardKit, Layer

__all__ = ["qr_modules"]


# 1:1:3:1:1 finder-like pattern then 4 light modules, and its mirror, as 11-bit numbers
# (bit k = module k of the window).
_FINDER_AFTER = sum(bit << k for k, bit in enumerate((1, 0, 1, 1, 1, 0, 1, 0, 0, 0, 0)))
_FINDER_BEFORE = sum(bit << k for k, bit in enumerate((0, 0, 0, 0, 1, 0, 1, 1, 1, 0, 1)))
_QR_QUIET_ZONE = 4  # modules of light margin the QR specification asks for


def _mask_patterns(size: int) -> list[np.ndarray]:
    """The eight QR data mask patterns of ISO/IEC 18004 (row i, column j)."""
    import numpy as np

    i, j = np.indices((size, size))
    return [
        (i + j) % 2 == 0,
        i % 2 == 0,
        j % 3 == 0,
        (i + j) % 3 == 0,
        (i // 2 + j // 3) % 2 == 0,
        (i * j) % 2 + (i * j) % 3 == 0,
        ((i * j) % 2 + (i * j) % 3) % 2 == 0,
        ((i + j) % 2 + (i * j) % 3) % 2 == 0,
    ]


@lru_cache(maxsize=48)
def _qr_template(version: int) -> tuple[np.ndarray, tuple[np.ndarray, np.ndarray], np.ndarray]:
    """A QR version's fixed modules, where its data modules go (in placement order), its masks.

    The fixed modules are finder, timing and alignment patterns and version information;
    the data positions follow ISO/IEC 18004 7.7.3 (two-module columns, right to left,
    alternately upwards and downwards), as segno places them.
    """
    import numpy as np
    from segno import encoder

    size = encoder.calc_matrix_size(version)
    matrix = encoder.make_matrix(size, size)
    encoder.add_finder_patterns(matrix, size, size)
    encoder.add_alignment_patterns(matrix, size, size)
    free = np.array(matrix, dtype=np.uint8) == 0x2
    encoder.add_version_info(matrix, version)
    rows, cols = [], []
    for right in range(size - 1, 0, -2):
        if right <= 6:
            right -= 1  # skip the vertical timing pattern
        for vertical in range(size):
            for j in (right, right - 1):
                upwards = ((right & 2) == 0) ^ (j < 6)
                i = size - 1 - vertical if upwards else vertical
                if free[i, j]:
                    rows.append(i)
                    cols.append(j)
    template = np.array(matrix, dtype=np.uint8)
    template[free] = 0
    masks = np.stack([pattern & free for pattern in _mask_patterns(size)])
    return template, (np.array(rows), np.array(cols)), masks


def _penalties(stack: np.ndarray) -> np.ndarray:
    """ISO/IEC 18004 mask penalties of a stack of candidate symbols, all at once.

    N1: runs of 5+ same-colour modules (3 + run - 5), N2: 2×2 same-colour blocks (3 each),
    N3: finder-like 1:1:3:1:1 patterns beside 4 light modules (40 each), N4: imbalance of
    dark and light (10 per 5 % away from half). Rows and columns both count.
    """
    import numpy as np

    count, size, _ = stack.shape
    m = stack.astype(np.int8)
    scores = np.zeros(count, dtype=np.int64)
    for lines in (m, m.transpose(0, 2, 1)):
        # N1 as windows: a run of L >= 5 holds L - 4 windows of five equal modules and
        # starts once, so its penalty L - 2 is (windows) + 2 × (starts).
        equal = lines[:, :, 1:] == lines[:, :, :-1]
        five = equal[:, :, :-3] & equal[:, :, 1:-2] & equal[:, :, 2:-1] & equal[:, :, 3:]
        starts = five[:, :, 0].sum(axis=1) + (five[:, :, 1:] & ~equal[:, :, : size - 5]).sum(
            axis=(1, 2)
        )
        scores += five.sum(axis=(1, 2)) + 2 * starts
        # N3: each 11-module window (light margin outside the symbol) read as an 11-bit number.
        light = np.zeros((count, size, size + 8), dtype=np.int16)
        light[:, :, 4 : 4 + size] = lines
        code = np.zeros((count, size, size - 2), dtype=np.int16)
        for k in range(11):
            code |= light[:, :, k : k + size - 2] << k
        scores += 40 * ((code == _FINDER_AFTER) | (code == _FINDER_BEFORE)).sum(axis=(1, 2))
    block = m[:, :-1, :-1]
    same = (block == m[:, 1:, :-1]) & (block == m[:, :-1, 1:]) & (block == m[:, 1:, 1:])
    scores += 3 * same.sum(axis=(1, 2))
    dark = m.sum(axis=(1, 2)) * 100 / (size * size)
    scores += 10 * (np.abs(dark - 50) // 5).astype(np.int64)
    return scores


@lru_cache(maxsize=1024)
def qr_modules(link: str) -> np.ndarray:
    """The QR code of ``link`` (error level M, boosted when it costs no size) as booleans.

    segno (pinned) encodes the bits and the error correction; placing them, choosing the
    data mask (ISO/IEC 18004 penalties) and masking are done here with numpy, because
    segno's pure-Python placement and mask evaluation cost more than the rest of a card
    (figures: README, "How fast the night is"). A test checks the result against segno's
    own symbol.
    """
    import numpy as np
    from segno import consts, encoder

    segments = encoder.prepare_data(link, None, None)
    version = encoder.find_version(segments, consts.ERROR_LEVEL_M, eci=False, micro=False)
    error = encoder.boost_error_level(version, consts.ERROR_LEVEL_M, segments, False)
    buffer = encoder.Buffer()
    for segment in segments:
        encoder.write_segment(buffer, segment, None, encoder.version_range(version), False)
    capacity = consts.SYMBOL_CAPACITY[version][error]  # type: ignore[index]
    encoder.write_terminator(buffer, capacity, None, len(buffer))
    encoder.write_padding_bits(buffer, version, len(buffer))
    encoder.write_pad_codewords(buffer, version, capacity, len(buffer))
    bits = np.frombuffer(
        bytes(encoder.make_final_message(version, error, buffer).getbits()), dtype=np.uint8
    )

    template, positions, masks = _qr_template(version)
    if bits.size != positions[0].size:
        raise CardError(
            f"QR code of {link!r}: {bits.size} bits for {positions[0].size} modules (segno changed?)"
        )
    data = template.copy()
    data[positions] = bits
    candidates = data.astype(bool) ^ masks
    best = int(np.argmin(_penalties(candidates)))
    chosen = [bytearray(row) for row in candidates[best].astype(np.uint8)]
    encoder.add_format_info(chosen, version, error, best)
    return np.array(chosen, dtype=np.uint8) == 1


def _qr_image(link: str, layer: Layer, kit: CardKit) -> tuple[Image.Image, tuple[int, int]]:
    from PIL import Image

    modules = qr_modules(link)
    count = modules.shape[0] + 2 * _QR_QUIET_ZONE
    side = min(layer.box[2] - layer.box[0], layer.box[3] - layer.box[1])
    scale = side // count
    if scale < 2:
        raise CardError(
            f"the QR code of a {len(link)}-character link needs {2 * count} px, its box has {side} px: "
            "enlarge the qr box in the layout or shorten the link in the brief"
        )
    import numpy as np

    dark, light = kit.brand.colors[layer.color], kit.brand.colors[layer.background]
    palette = np.array([light, dark], dtype=np.uint8)
    framed = np.zeros((count, count), dtype=np.uint8)
    framed[_QR_QUIET_ZONE:-_QR_QUIET_ZONE, _QR_QUIET_ZONE:-_QR_QUIET_ZONE] = modules
    image = Image.fromarray(palette[framed], "RGB").resize(
        (count * scale, count * scale), Image.Resampling.NEAREST
    )
    left = layer.box[0] + (layer.box[2] - layer.box[0] - image.width) // 2
    top = layer.box[1] + (layer.box[3] - layer.box[1] - image.height) // 2
    return image, (left, top)
