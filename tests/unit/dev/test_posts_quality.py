"""The README's posts report tool: it reads a bundle's posts.json files and measures them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from matinale.dev.posts_quality import main

ROOT = Path(__file__).resolve().parents[3]


def _post(segment: str, channel: str, text: str, **extra: str) -> dict[str, str]:
    return {"segment": segment, "channel": channel, "theme": "sante", "text": text, **extra}


def test_it_measures_a_bundle_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("MATINALE_HOME", str(ROOT))
    good = "Un médecin pour chacun.\nPour agir, signez la pétition.\nhttps://liens.example.org/s/abcdefgh"
    bad = "À toi de jouer : Signez la pétition : https://ensemble-demain.example.org/sante?utm_content=65plus-p01-1"
    for segment, text in (("65plus-p01", good), ("18-24-p01", bad)):
        folder = tmp_path / segment
        folder.mkdir()
        posts = [_post(segment, "x", text), _post(segment, "sms", text, message="Un médecin")]
        (folder / "posts.json").write_text(json.dumps({"segment": segment, "posts": posts}))
    assert main([str(tmp_path), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["posts"] == 4
    assert result["rules"]["two_colons"] == 0.5 and result["rules"]["utm_content"] == 0.5
    # tu (« À toi ») and vous (« Signez ») in one post: the issue's own example
    assert result["rules"]["link_line"] == 0.5 and result["rules"]["address"] == 0.5
    assert result["rules"]["fragment"] == 0.0
    assert result["sms_with_message"] == "1/2"
    assert main([str(tmp_path)]) == 0
    assert "| two_colons | 50,0 % |" in capsys.readouterr().out
    assert main([str(tmp_path / "nowhere")]) == 2
