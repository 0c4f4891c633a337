"""JSON Schemas of the configuration files, generated from their pydantic models.

:data:`MODELS` lists every file a person writes and the model that validates it; the
generator writes ``<name>.schema.json`` next to this module for each entry, and
tests/unit/config/test_schemas.py fails when a committed schema is stale. YAML files point
editors at their schema with a first line such as
``# yaml-language-server: $schema=plugins/matinale/schemas/campaign.schema.json``.

To add a file: one line ``"<name>": "<module>:<Model>"`` in :data:`MODELS` (imported lazily,
so no module here imports the night), then ``python -m matinale.schemas``. The other
``*.schema.json`` here (manifest, compliance) are hand-written schemas of the bundle's own
output files and are left alone.
"""

from __future__ import annotations

import importlib
import json
from pathlib import Path
from typing import Any

from pydantic import BaseModel

__all__ = ["MODELS", "SCHEMA_DIR", "model_of", "render", "schema_of", "write_all"]

SCHEMA_DIR = Path(__file__).parent

#: Schema name → ``module:Model`` validating that file (its ``.schema.json`` is generated).
MODELS: dict[str, str] = {
    "campaign": "matinale.campaign_file:CampaignFile",
    "channels": "matinale.content.channels:ChannelsFile",
    "brief": "matinale.content.brief:BriefFile",
    "framing": "matinale.content.rules:FramingFile",
    "age_bands": "matinale.segment.definitions:AgeBandsFile",
    "profiles": "matinale.segment.definitions:ProfilesFile",
    "territories": "matinale.segment.definitions:TerritoriesFile",
    "card_layout": "matinale.visuals.kit:LayoutFile",
    "brand": "matinale.visuals.kit:BrandFile",
}


def model_of(name: str) -> type[BaseModel]:
    """The pydantic model registered under ``name``."""
    module, _, attribute = MODELS[name].partition(":")
    model = getattr(importlib.import_module(module), attribute)
    if not (isinstance(model, type) and issubclass(model, BaseModel)):
        raise TypeError(f"{MODELS[name]} is not a pydantic model")
    return model


def schema_of(name: str) -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of the file registered under ``name``."""
    schema = model_of(name).model_json_schema(mode="validation")
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", **schema}


def render(name: str) -> str:
    """The text of ``<name>.schema.json``, as committed."""
    return json.dumps(schema_of(name), indent=2, ensure_ascii=False) + "\n"


def write_all(folder: Path = SCHEMA_DIR) -> list[Path]:
    """Write every registered schema into ``folder``; returns the files that changed."""
    changed = []
    for name in MODELS:
        path, text = folder / f"{name}.schema.json", render(name)
        if not path.is_file() or path.read_text(encoding="utf-8") != text:
            path.write_text(text, encoding="utf-8")
            changed.append(path)
    return changed
