"""The configuration files' JSON Schemas: committed, current, and read by editors."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
from pydantic import BaseModel

from matinale.schemas import MODELS, SCHEMA_DIR, model_of, render, write_all
from matinale.settings import SettingsError, load_settings
from matinale.yamlfile import load_yaml

ROOT = Path(__file__).resolve().parents[3]


@pytest.mark.parametrize("name", sorted(MODELS))
def test_committed_schema_is_current(name: str) -> None:
    assert issubclass(model_of(name), BaseModel)
    path = SCHEMA_DIR / f"{name}.schema.json"
    assert path.is_file() and path.read_text(encoding="utf-8") == render(name), (
        f"{path.name} is stale: run `python -m matinale.schemas` and commit the result"
    )
    jsonschema.Draft202012Validator.check_schema(json.loads(path.read_text(encoding="utf-8")))


def test_write_all_writes_every_schema_once(tmp_path: Path) -> None:
    assert sorted(p.name for p in write_all(tmp_path)) == sorted(f"{n}.schema.json" for n in MODELS)
    assert write_all(tmp_path) == []


def test_campaign_yaml_points_editors_at_its_schema() -> None:
    first = (ROOT / "campaign.yaml").read_text(encoding="utf-8").splitlines()[0]
    assert first == "# yaml-language-server: $schema=plugins/matinale/schemas/campaign.schema.json"
    assert (ROOT / first.split("$schema=")[1]).resolve() == (
        SCHEMA_DIR / "campaign.schema.json"
    ).resolve()


def _validator() -> jsonschema.Draft202012Validator:
    schema = json.loads((SCHEMA_DIR / "campaign.schema.json").read_text(encoding="utf-8"))
    return jsonschema.Draft202012Validator(schema, format_checker=jsonschema.FormatChecker())


def test_the_project_campaign_passes_its_schema() -> None:
    assert list(_validator().iter_errors(load_yaml(ROOT / "campaign.yaml").data)) == []


@pytest.mark.parametrize(
    "extra",
    [
        "content:\n  channels: [x, tiktok]\n",
        "links:\n  presign_expiry_hours: 500\n",
        "storage:\n  bucket: x\n",
        "campaign:\n  name: x\n",
    ],
)
def test_schema_and_loader_refuse_the_same_mistakes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, extra: str
) -> None:
    monkeypatch.setenv("MATINALE_HOME", str(ROOT))
    path = tmp_path / "campaign.yaml"
    path.write_text(
        (ROOT / "campaign.yaml").read_text(encoding="utf-8") + "\n" + extra, encoding="utf-8"
    )
    data = load_yaml(path, last_key_wins=True).data
    assert list(_validator().iter_errors(data)), "the editor would not flag it"
    with pytest.raises(SettingsError):
        load_settings(path)
