"""The one YAML loader for every configuration file and brief, with errors people can act on.

Every YAML file a person writes (``campaign.yaml``, the brief, segment definitions, card
layouts) is read here and nowhere else, because this is where hostile files are refused
*before* anything big is built:

- a file over :data:`MAX_BYTES` is refused before it is parsed;
- anchors, aliases (``&x`` / ``*x``) and merge keys (``<<``) are refused while the node tree
  is composed, so a "billion laughs" file (nested aliases: 5.9 GB in 110 s once) never
  expands; nesting deeper than :data:`MAX_DEPTH` is refused too;
- dates and times stay text (no YAML 1.1 timestamps, no sexagesimal ``20:00`` = 72000): the
  models that validate them name the field when one is wrong.

The loader remembers the line of every mapping key and sequence item, so that a validation
error reads ``file:line: field.path: message — what to do``.
:meth:`YamlDoc.validate` turns a :class:`pydantic.ValidationError` into such findings,
raised together as one :class:`ConfigError`.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn, TypeVar, get_args, get_origin

import yaml
from pydantic import BaseModel, ValidationError
from pydantic.fields import FieldInfo
from pydantic_core import ErrorDetails

from matinale.errors import MatinaleError

__all__ = [
    "MAX_BYTES",
    "MAX_DEPTH",
    "ConfigError",
    "Finding",
    "Fix",
    "YamlDoc",
    "dotted",
    "load_yaml",
    "located",
]

#: Largest configuration file or brief read, in bytes (campaign.yaml is ~4 kB, a brief ~10 kB).
MAX_BYTES = 1024 * 1024
#: Deepest nesting of mappings and lists (real files stay under 10).
MAX_DEPTH = 64

Key = str | int
M = TypeVar("M", bound=BaseModel)

_STR = "tag:yaml.org,2002:str"
_MERGE = "tag:yaml.org,2002:merge"
_TIMESTAMP = "tag:yaml.org,2002:timestamp"
_NUMBERS = {"tag:yaml.org,2002:int", "tag:yaml.org,2002:float"}


def dotted(path: Sequence[Key]) -> str:
    """``("elections", "days", 0, "date")`` → ``elections.days[0].date``."""
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


@dataclass(frozen=True)
class Finding:
    """One problem in one file: where it is, what is wrong and what to do about it."""

    file: Path
    line: int | None
    field: str
    message: str
    fix: str = ""

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else f"{self.file}"
        what = f"{self.field}: {self.message}" if self.field else self.message
        return f"{where}: {what}" + (f" — {self.fix}" if self.fix else "")


class ConfigError(MatinaleError, ValueError):
    """A configuration file or brief Matinale cannot use; ``findings`` lists every problem.

    Built from findings (``ConfigError(*findings)``) or, for problems that are not in a
    file (an environment variable), from one message.
    """

    def __init__(self, *problems: Finding | str) -> None:
        self.findings: tuple[Finding, ...] = tuple(p for p in problems if isinstance(p, Finding))
        super().__init__("\n".join(str(p) for p in problems))


class Fix(ValueError):
    """Raise from a model's validator: ``Fix("is 500", "use 1..168")`` keeps the fix apart."""

    def __init__(self, message: str, fix: str = "") -> None:
        self.message, self.fix = message, fix
        super().__init__(f"{message} — {fix}" if fix else message)


class _Refused(yaml.YAMLError):
    def __init__(self, line: int, problem: str, fix: str, path: Sequence[Key] = ()) -> None:
        self.line, self.problem, self.fix, self.path = line, problem, fix, tuple(path)
        super().__init__(problem)


class _Loader(yaml.SafeLoader):
    """SafeLoader without aliases, anchors, deep nesting, timestamps or sexagesimal numbers."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0

    def compose_node(self, parent: Any, index: Any) -> Any:
        event = self.peek_event()
        line = event.start_mark.line + 1
        if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None) is not None:
            problem = "YAML anchors and aliases (&name, *name) are not allowed"
            raise _Refused(line, problem, "write the value out in full")
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                raise _Refused(
                    line, f"nested more than {MAX_DEPTH} levels deep", "flatten the file"
                )
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def resolve(self, kind: Any, value: Any, implicit: Any) -> str:
        tag: str = super().resolve(kind, value, implicit)
        if tag == _TIMESTAMP or (tag in _NUMBERS and ":" in str(value)):
            return _STR
        return tag


@dataclass(frozen=True)
class YamlDoc:
    """A YAML file's data and the line of every key and item (``()`` is the whole file)."""

    path: Path
    data: Any
    lines: Mapping[tuple[Key, ...], int] = field(default_factory=dict)
    error: type[Exception] = ConfigError

    def line(self, path: Sequence[Key]) -> int | None:
        """The line of ``path``, else of its nearest parent that is in the file."""
        key = tuple(path)
        while key not in self.lines and key:
            key = key[:-1]
        return self.lines.get(key)

    def finding(
        self, path: Sequence[Key], message: str, fix: str = "", *, line: int | None = None
    ) -> Finding:
        return Finding(self.path, line or self.line(path), dotted(path), message, fix)

    def fail(self, *findings: Finding) -> Exception:
        """The exception to raise for ``findings``, of this document's error type."""
        if issubclass(self.error, ConfigError):
            return self.error(*findings)
        return self.error("\n".join(str(f) for f in findings))

    def refuse(
        self, message: str, fix: str, *, path: Sequence[Key] = (), line: int | None = None
    ) -> Exception:
        """The exception to raise for one problem at ``path`` (or ``line``)."""
        return self.fail(self.finding(path, message, fix, line=line))

    def unique_ids(self, items: Sequence[Any], *, what: str, section: str) -> None:
        """Refuse the first item of ``section`` whose ``id`` an earlier item already has."""
        seen: set[str] = set()
        for index, item in enumerate(items):
            if item.id in seen:
                raise self.refuse(
                    f"{what} id {item.id!r} is used twice",
                    "ids must be unique",
                    path=(section, index, "id"),
                )
            seen.add(item.id)

    def validate(
        self, model: type[M], data: Any = None, *, context: Mapping[str, Any] | None = None
    ) -> M:
        """``model`` validated from the file's data (or ``data``); errors carry file and line.

        ``context`` reaches the model's validators (``info.context``), e.g. the allowed domains.
        """
        try:
            return model.model_validate(
                self.data if data is None else data,
                context=dict(context) if context is not None else None,
            )
        except ValidationError as exc:
            raise self.fail(*located(exc, self, model)) from None


def load_yaml(
    path: Path | str,
    *,
    text: str | None = None,
    error: type[Exception] = ConfigError,
    max_bytes: int = MAX_BYTES,
    last_key_wins: bool = False,
) -> YamlDoc:
    """Read one YAML document safely, with lines (see the module docstring).

    ``text`` is the file's content when already read; ``error`` the exception type raised
    (a :class:`ConfigError` subclass gets the findings, any other type the joined message).
    A key given twice in a mapping is refused, unless ``last_key_wins`` (PyYAML's behaviour:
    the last one is kept and its lines are remembered).
    """
    path = Path(path)
    doc = YamlDoc(path, None, {}, error)
    text = _read(doc, max_bytes) if text is None else text
    if len(text.encode("utf-8")) > max_bytes:
        _too_big(doc, len(text.encode("utf-8")), max_bytes)
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        lines: dict[tuple[Key, ...], int] = {}
        if node is not None:
            _walk(node, (), lines, last_key_wins)
        data = loader.construct_document(node) if node is not None else None
    except _Refused as exc:
        raise doc.refuse(exc.problem, exc.fix, path=exc.path, line=exc.line) from None
    except (yaml.YAMLError, ValueError) as exc:  # ValueError: e.g. an integer of 5,000 digits
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        problem = getattr(exc, "problem", None) or str(exc)
        raise doc.refuse(f"not valid YAML: {problem}", "fix the syntax there", line=line) from None
    finally:
        loader.dispose()
    return YamlDoc(path, data, lines, error)


def _read(doc: YamlDoc, max_bytes: int) -> str:
    """The file's text, read no further than one byte past the limit."""
    try:
        with doc.path.open("rb") as handle:
            raw = handle.read(max_bytes + 1)
    except FileNotFoundError:
        raise doc.refuse("file not found", "check the path") from None
    if len(raw) > max_bytes:
        _too_big(doc, doc.path.stat().st_size, max_bytes)
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise doc.refuse(f"not UTF-8 text (byte {exc.start})", "save it as UTF-8") from None


def _too_big(doc: YamlDoc, size: int, max_bytes: int) -> NoReturn:
    raise doc.refuse(
        f"the file is {size:,} bytes; the limit is {max_bytes:,}",
        "split it or remove what is not needed",
    )


def _walk(
    node: yaml.Node, path: tuple[Key, ...], lines: dict[tuple[Key, ...], int], last_wins: bool
) -> None:
    lines.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        keys = [str(key.value) for key, _ in node.value]
        for index, (key_node, value_node) in enumerate(node.value):
            line, key = key_node.start_mark.line + 1, keys[index]
            if key_node.tag == _MERGE:
                raise _Refused(
                    line, "merge keys (<<) are not allowed", "write the keys out in full", path
                )
            if key in keys[index + 1 :]:
                if last_wins:
                    continue
                raise _Refused(
                    line, f"'{key}' appears twice in this mapping", "keep one", (*path, key)
                )
            lines[(*path, key)] = line
            _walk(value_node, (*path, key), lines, last_wins)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _walk(item, (*path, index), lines, last_wins)


# ------------------------------------------------------------------ pydantic errors


_MAPPING = ("dict_type", "model_type", "model_attributes_type")
_MESSAGES = {"missing": "is required", **dict.fromkeys(_MAPPING, "must be a mapping")}
_FIXES = {
    "missing": "add it",
    "literal_error": "use one of those",
    "string_type": "write text (in quotes if YAML reads it as something else)",
    **dict.fromkeys(("int_parsing", "int_type", "int_from_float"), "write a whole number"),
    **dict.fromkeys(("float_parsing", "float_type"), "write a number"),
    **dict.fromkeys(("bool_parsing", "bool_type"), "write true or false"),
    **dict.fromkeys(("list_type", "tuple_type"), "write a list ([a, b] or one '- item' per line)"),
    **dict.fromkeys(_MAPPING, "write a mapping (key: value, one per line)"),
}


def located(
    exc: ValidationError, doc: YamlDoc, model: type[BaseModel] | None = None
) -> list[Finding]:
    """One finding per error of ``exc``, located in ``doc`` (``model`` suggests key names)."""
    findings = []
    for error in exc.errors():
        path: tuple[Key, ...] = ()
        for part in error["loc"]:  # keep keys and items of the file, drop union/validator labels
            if isinstance(part, int) or part in _fields(model, path) or (*path, part) in doc.lines:
                path = (*path, part)
        findings.append(doc.finding(path, *_explain(error, path, model)))
    return findings


def _explain(
    error: ErrorDetails, path: tuple[Key, ...], model: type[BaseModel] | None
) -> tuple[str, str]:
    """The message and the fix of one pydantic error."""
    kind, cause = error["type"], (error.get("ctx") or {}).get("error")
    if isinstance(cause, Fix):
        return cause.message, cause.fix
    if kind == "value_error":
        return str(cause or error["msg"]), ""
    key, parent = (str(path[-1]), _fields(model, path[:-1])) if path else ("", {})
    if kind == "extra_forbidden":
        close = difflib.get_close_matches(key, parent, n=1)
        fix = (
            f"did you mean '{close[0]}'?"
            if close
            else f"remove it (allowed: {', '.join(sorted(parent))})"
        )
        return f"unknown key '{key}'", fix
    message, info, value = _MESSAGES.get(kind, error["msg"]), parent.get(key), error.get("input")
    fix = _FIXES.get(kind) or (info.description if info is not None else None) or ""
    if isinstance(value, str | int | float | bool) or (value is None and kind != "missing"):
        message += f" (got {value!r})"
    if kind == "missing" and info is not None and info.examples:
        fix += f", e.g. {key}: {info.examples[0]}"
    return message, fix


def _fields(model: type[BaseModel] | None, path: Sequence[Key]) -> dict[str, FieldInfo]:
    """The fields of the model at ``path`` inside ``model`` (lists, dicts and Optionals crossed).

    A key of a ``dict[str, Model]`` field (``angles.default``) stays on ``Model``.
    """
    current, keyed = model, False
    for part in path:
        if current is None:
            break
        if isinstance(part, int):
            continue
        if keyed:
            keyed = False
            continue
        info = current.model_fields.get(part)
        annotation = info.annotation if info else None
        keyed, current = _is_mapping(annotation), _model_in(annotation)
    return dict(current.model_fields) if current is not None else {}


def _is_mapping(annotation: Any) -> bool:
    if get_origin(annotation) in (dict, Mapping):
        return True
    return any(_is_mapping(arg) for arg in get_args(annotation) if arg is not None)


def _model_in(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    found = (_model_in(arg) for arg in get_args(annotation))
    return next((model for model in found if model is not None), None)
