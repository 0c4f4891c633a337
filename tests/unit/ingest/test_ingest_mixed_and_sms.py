"""Line-by-line decoding of files mixing encodings, and phones quarantined for SMS."""

from __future__ import annotations

import pyarrow as pa
import pytest

from matinale.contacts import SMS_REASONS, normalise_phones
from matinale.ingest import REASONS, sniff
from matinale.ingest.sniff import _has_utf8_multibyte, _to_utf8


def test_a_pure_cp1252_file_is_still_decoded_wholesale() -> None:
    data = "id;nom\n1;Hélène\n2;Noël\n".encode("cp1252")
    assert _to_utf8(data) == (data.decode("cp1252").encode("utf-8"), "cp1252", {})


def test_a_mix_is_decoded_line_by_line_and_counted() -> None:
    data = b"id,nom\n" + "1,Frédéric\n".encode() + "2,Hélène\n".encode("cp1252") + b"3,\x81x\n"
    text, encoding, lines = _to_utf8(data)
    assert encoding == "utf-8+cp1252+latin-1"
    assert lines == {"utf-8": 1, "cp1252": 1, "latin-1": 1}
    assert text.decode("utf-8").splitlines()[1:3] == ["1,Frédéric", "2,Hélène"]


@pytest.mark.parametrize("offset", range(0, 8))
def test_utf8_sequences_are_found_across_chunk_boundaries(
    monkeypatch: pytest.MonkeyPatch, offset: int
) -> None:
    monkeypatch.setattr(sniff, "_CHUNK", 8)
    for char in ("é", "€", "😀"):
        assert _has_utf8_multibyte(b"x" * offset + char.encode() + b"y" * 9)
        assert not _has_utf8_multibyte(b"x" * offset + char.encode()[:-1] + b"y" * 9)
    assert not _has_utf8_multibyte(b"x" * offset + "é".encode("cp1252") + b"y" * 9)


def test_every_sms_reason_has_a_french_hint() -> None:
    for reason in SMS_REASONS:
        assert "SMS" in REASONS[reason] and "mobile" in REASONS[reason]


@pytest.mark.parametrize(
    ("phone", "reason"),
    [
        ("06 12 34 56 78", ""),
        ("07 81 22 33 44", ""),
        ("0690 12 34 56", ""),  # Guadeloupe mobile
        ("0639 98 12 34", ""),  # Mayotte, ARCEP fiction block
        ("0590 12 34 56", "phone_landline"),
        ("01 99 00 12 34", "phone_landline"),
        ("0262 12 34 56", "phone_landline"),
        ("08 00 12 34 56", "phone_special_rate"),
        ("08 92 12 34 56", "phone_special_rate"),
        ("09 12 34 56 78", "phone_not_mobile"),
        ("+44 20 7946 0000", "phone_landline"),
        ("+44 7911 123456", ""),
        ("06 12 34 56 79 ext. 3", "phone_extension"),
        ("0612345679x12", "phone_extension"),
        ("06 12 34 56 79 poste 12", ""),  # unreadable (invalid_phone): never silently cut
        ("0612", ""),  # unreadable: invalid_phone, not an SMS reason
        ("", ""),
    ],
)
def test_sms_reasons(phone: str, reason: str) -> None:
    result = normalise_phones(pa.array([phone, "06 12 34 56 78"]))
    assert result.sms is not None
    assert result.sms.to_pylist() == [reason, ""]
    assert bool(result.ok[0]) is not phone.endswith(("poste 12", "0612"))
