"""Field types and the base model shared by every configuration file's pydantic models.

Each type validates what a person writes in YAML (dates and times stay text in
:mod:`matinale.yamlfile`), raises :class:`~matinale.yamlfile.Fix` with what to do when it
is wrong, serialises back to that text, and gives the JSON Schema editors check as people type.
"""

from __future__ import annotations

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

__all__ = ["Clock", "Day", "Required", "Section", "Zone"]


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
