"""Field types and the base model shared by every configuration file's pydantic models.

Each type validates what a person writes in YAML (dates and times stay text in
:mod:`matinale.yamlfile`), raises :class:`~matinale.yamlfile.Fix` with what to do when it
is wrong, serialises back to that text, and gives the JSON Schema editors check as people type.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from datetime import date, datetime, time
from typing import Annotated, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    PlainSerializer,
    PlainValidator,
    StringConstraints,
    ValidationInfo,
    WithJsonSchema,
    field_validator,
)

from matinale.yamlfile import Fix

__all__ = [
    "HASHTAG",
    "SLUG",
    "Clock",
    "Day",
    "Hashtag",
    "Required",
    "Section",
    "Slug",
    "Text",
    "Zone",
    "alternatives_schema",
    "clean_text",
    "one_or_more",
    "slug_rule",
    "text_schema",
]

#: An id people write: lower-case ASCII words joined by '-' (``65plus``, ``pouvoir-achat``).
SLUG = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
#: A hashtag without its '#': letters, digits and _ (accents allowed), at most 60.
HASHTAG = re.compile(r"^\w{1,60}$")


def _zone(value: Any) -> ZoneInfo:
    if isinstance(value, ZoneInfo):
        return value
    try:
        return ZoneInfo(str(value))
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise Fix(
            f"{value!r} is not an IANA time zone",
            "use a name like Europe/Paris or America/Montreal",
        ) from exc


def _clock(value: Any) -> time:
    if isinstance(value, time):
        return value
    text = str(value)
    try:
        hours, minutes = text.split(":")
        return time(int(hours), int(minutes))
    except ValueError as exc:
        raise Fix(f"{text!r} is not a time", 'write HH:MM in quotes, e.g. "06:30"') from exc


def _day(value: Any) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value))
    except ValueError as exc:
        raise Fix(f"{value!r} is not a date", "write YYYY-MM-DD, e.g. 2027-04-11") from exc


def _required(value: Any) -> Any:
    if value is None or str(value).strip() == "":
        raise Fix("is required", "give it a value")
    return value


def _kind(value: Any) -> str:
    return {
        dict: "a mapping",
        list: "a list",
        str: "text",
        bool: "true/false",
        int: "a number",
        float: "a number",
    }.get(type(value), "nothing" if value is None else type(value).__name__)


def clean_text(value: Any, max_length: int | None = None) -> str:
    """One line of text: folded YAML joined, not empty, no invisible control character."""
    if not isinstance(value, str):
        if isinstance(value, bool):
            raise Fix(
                "must be text; got true/false (YAML reads yes/no/on/off/true/false as booleans)",
                "put the text in quotes",
            )
        raise Fix(f"must be text; got {_kind(value)}", "write text (in quotes if need be)")
    text = " ".join(value.split())  # folded YAML and stray newlines: one line of text
    if not text:
        raise Fix("must not be empty", "write the text or remove the key")
    for position, char in enumerate(text):
        if unicodedata.category(char) in {"Cc", "Co", "Cs"}:
            raise Fix(
                f"holds an invisible control or private character U+{ord(char):04X} at position {position}",
                "retype the text",
            )
    if max_length is not None and len(text) > max_length:
        raise Fix(f"is {len(text)} characters long; at most {max_length}", "shorten it")
    return text


def text_schema(max_length: int | None = None) -> dict[str, Any]:
    """The JSON Schema of a :func:`clean_text` value."""
    schema: dict[str, Any] = {"type": "string", "minLength": 1}
    return schema | ({"maxLength": max_length} if max_length is not None else {})


def slug_rule(what: str) -> Callable[[Any], str]:
    """A validator of a slug; ``what`` ends the message (``must be a slug …, e.g. 65plus``)."""

    def check(value: Any) -> str:
        text = clean_text(value) if not isinstance(value, int | float) else str(value)
        if not SLUG.match(text):
            raise Fix(f"{text!r} must be {what}")
        return text

    return check


def alternatives_schema(item: dict[str, Any], description: str = "") -> dict[str, Any]:
    """The JSON Schema of :func:`one_or_more`: ``item`` or a list of 1 to 10 of them."""
    schema: dict[str, Any] = {
        "anyOf": [item, {"type": "array", "items": item, "minItems": 1, "maxItems": 10}]
    }
    return schema | ({"description": description} if description else {})


def one_or_more(value: Any) -> Any:
    """A text or a list of 1 to 10 texts (alternatives that variants take turns with)."""
    if isinstance(value, list):
        if not 1 <= len(value) <= 10:
            raise Fix("must be a text or a list of 1 to 10 texts", "keep 1 to 10 alternatives")
        return value
    return [value]


def _hashtag(value: Any) -> str:
    tag = (
        str(value).strip().lstrip("#")
        if isinstance(value, str | int) and not isinstance(value, bool)
        else ""
    )
    if not HASHTAG.match(tag):
        raise Fix(f"{value!r} is not a hashtag: letters, digits and _ only, no space")
    return tag


Zone = Annotated[
    ZoneInfo,
    PlainValidator(_zone),
    PlainSerializer(lambda zone: zone.key, return_type=str, when_used="json"),
    WithJsonSchema(
        {"type": "string", "description": "IANA time zone", "examples": ["Europe/Paris"]}
    ),
]
Clock = Annotated[
    time,
    PlainValidator(_clock),
    PlainSerializer(lambda moment: moment.strftime("%H:%M"), return_type=str, when_used="json"),
    WithJsonSchema(
        {"type": "string", "pattern": r"^\s*[0-9]{1,2}\s*:\s*[0-9]{2}\s*$", "examples": ["06:30"]}
    ),
]
Day = Annotated[
    date,
    PlainValidator(_day),
    PlainSerializer(date.isoformat, return_type=str, when_used="json"),
    WithJsonSchema({"type": "string", "format": "date", "examples": ["2027-04-11"]}),
]
Required = Annotated[
    str, StringConstraints(min_length=1, pattern=r"\S"), BeforeValidator(_required)
]

#: One line of text (see :func:`clean_text`), no length limit.
Text = Annotated[str, PlainValidator(clean_text), WithJsonSchema(text_schema())]
#: An id: a slug (a-z, 0-9 and '-').
Slug = Annotated[
    str,
    PlainValidator(slug_rule("a slug (a-z, 0-9, '-'), e.g. pouvoir-achat")),
    WithJsonSchema({"type": "string", "pattern": SLUG.pattern, "examples": ["pouvoir-achat"]}),
]
#: A hashtag, with or without its '#' (kept without).
Hashtag = Annotated[
    str,
    PlainValidator(_hashtag),
    WithJsonSchema({"type": ["string", "integer"], "examples": ["EnsembleDemain"]}),
]


class Section(BaseModel):
    """A mapping of a configuration file: unknown keys are refused, ``null`` means the default."""

    model_config = ConfigDict(extra="forbid", coerce_numbers_to_str=True)

    @field_validator("*", mode="before")
    @classmethod
    def _null_is_default(cls, value: Any, info: ValidationInfo) -> Any:
        field_info = cls.model_fields.get(info.field_name or "")
        if value is None and field_info is not None and not field_info.is_required():
            return field_info.get_default(call_default_factory=True)
        return value
