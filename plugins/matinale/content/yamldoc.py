"""Shim: moved to matinale.yamlfile (the loader) and matinale.schemas.fields (SLUG, HASHTAG).

Left for ``content/channels.py`` (``_Doc``; its owner is switching it to ``load_yaml``) and
for ``links.py`` / ``maker.py`` (``_SLUG``); removed once every import is updated.
"""

from __future__ import annotations

import difflib
import unicodedata
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, NoReturn

import yaml

from matinale.schemas.fields import HASHTAG as _HASHTAG
from matinale.schemas.fields import SLUG as _SLUG

__all__ = ["_HASHTAG", "_SLUG", "_Doc"]


class _Doc:
    """A YAML file's data with the line of every key and item, for errors users can act on."""

    def __init__(self, path: Path, text: str, error: type[ValueError]) -> None:
        self.path = path
        self.error = error
        self.lines: dict[tuple[str | int, ...], int] = {}
        try:
            node = yaml.compose(text, Loader=yaml.SafeLoader)
            self.data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f", line {mark.line + 1}" if mark is not None else ""
            raise error(f"{path}{where}: not valid YAML: {getattr(exc, 'problem', exc)}") from exc
        if node is not None:
            self._walk(node, ())

    def _walk(self, node: yaml.Node, path: tuple[str | int, ...]) -> None:
        self.lines.setdefault(path, node.start_mark.line + 1)
        if isinstance(node, yaml.MappingNode):
            seen: set[str] = set()
            for key_node, value_node in node.value:
                key = str(key_node.value)
                if key in seen:
                    self.fail(
                        path + (key,),
                        f"'{key}' appears twice; keep one",
                        line=key_node.start_mark.line + 1,
                    )
                seen.add(key)
                self.lines[path + (key,)] = key_node.start_mark.line + 1
                self._walk(value_node, path + (key,))
        elif isinstance(node, yaml.SequenceNode):
            for index, item in enumerate(node.value):
                self._walk(item, path + (index,))

    def line(self, path: Sequence[str | int]) -> int | None:
        path = tuple(path)
        while path not in self.lines and path:
            path = path[:-1]
        return self.lines.get(path)

    def fail(self, path: Sequence[str | int], message: str, *, line: int | None = None) -> NoReturn:
        line = line or self.line(path)
        where = f", line {line}" if line else ""
        raise self.error(f"{self.path}{where}: {_dotted(path) or 'the file'}: {message}")

    def mapping(
        self,
        value: Any,
        path: Sequence[str | int],
        allowed: Iterable[str],
        required: Iterable[str] = (),
    ) -> dict[str, Any]:
        if not isinstance(value, dict):
            self.fail(
                path, f"must be a mapping of {', '.join(sorted(allowed))}; got {_kind(value)}"
            )
        allowed = set(allowed)
        for key in value:
            if str(key) not in allowed:
                close = difflib.get_close_matches(str(key), allowed, n=1)
                hint = (
                    f"; did you mean '{close[0]}'?"
                    if close
                    else f"; allowed keys: {', '.join(sorted(allowed))}"
                )
                self.fail((*path, str(key)), f"unknown key '{key}'{hint}")
        for key in required:
            if key not in value or value[key] is None:
                self.fail(path, f"'{key}' is required")
        return {str(k): v for k, v in value.items()}

    def text(self, value: Any, path: Sequence[str | int], *, max_length: int | None = None) -> str:
        if not isinstance(value, str):
            hint = (
                " (YAML reads yes/no/on/off/true/false as booleans: put the text in quotes)"
                if isinstance(value, bool)
                else ""
            )
            self.fail(path, f"must be text; got {_kind(value)}{hint}")
        text = " ".join(value.split())  # folded YAML and stray newlines: one line of text
        if not text:
            self.fail(path, "must not be empty")
        for position, char in enumerate(text):
            if unicodedata.category(char) in {"Cc", "Co", "Cs"}:
                self.fail(
                    path,
                    f"holds an invisible control or private character U+{ord(char):04X} at position {position}; retype the text",
                )
        if max_length is not None and len(text) > max_length:
            self.fail(path, f"is {len(text)} characters long; at most {max_length}")
        return text


def _dotted(path: Sequence[str | int]) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _kind(value: Any) -> str:
    return {
        dict: "a mapping",
        list: "a list",
        str: "text",
        bool: "true/false",
        int: "a number",
        float: "a number",
    }.get(type(value), "nothing" if value is None else type(value).__name__)
