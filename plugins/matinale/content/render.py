"""The sandboxed Jinja2 environment: post templates and openers compiled once, rendered fast."""

from __future__ import annotations

import difflib
import re
import traceback
from functools import cache
from pathlib import Path
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

from matinale.content.errors import ContentError, RulesError

if TYPE_CHECKING:  # Jinja2 is imported when first used, not with this module
    from jinja2 import Template
    from jinja2.runtime import Context
    from jinja2.sandbox import SandboxedEnvironment


def _finalize(value: Any) -> Any:
    return "" if value is None else value


class _Data(SimpleNamespace):
    """Data for templates: plain attributes (text, numbers, lists, other _Data), no methods."""


@cache
def _environment(templates_dir: Path, autoescape: bool) -> SandboxedEnvironment:
    from jinja2 import FileSystemLoader, StrictUndefined, pass_context
    from jinja2.sandbox import SandboxedEnvironment

    class Sandbox(SandboxedEnvironment):
        def getattr(self, obj: Any, attribute: str) -> Any:
            # {{ theme.title }} on our own data: a dictionary lookup. Everything else (and
            # any name starting with _) goes through the sandbox's full checks.
            if type(obj) is _Data and not attribute.startswith("_"):
                try:
                    return obj.__dict__[attribute]
                except KeyError:
                    pass
            return super().getattr(obj, attribute)

    env = Sandbox(
        loader=FileSystemLoader(Path(templates_dir) / "posts"),
        undefined=StrictUndefined,
        autoescape=autoescape,
        keep_trailing_newline=False,
        trim_blocks=True,
        lstrip_blocks=True,
        auto_reload=False,  # templates do not change during a night: no stat per render
        finalize=_finalize,
    )

    @pass_context
    def track(context: Context, url: str) -> str:
        """``{{ campaign.website | track }}``: any other link a template prints, tracked."""
        return context["_track"](url)

    env.filters["track"] = track
    return env


@cache
def _opener_template(source: str) -> Template:
    """An opener of framing.yaml: reviewed text that may name ``territory`` or ``interest``.

    Compiled in the same sandbox as the post templates; brief text never goes this way.
    """
    return _environment(Path(__file__).parent.parent, False).from_string(source)


def _template(templates_dir: Path, name: str, autoescape: bool = False) -> Template:
    from jinja2 import TemplateNotFound, TemplateSyntaxError

    try:
        return _environment(templates_dir, autoescape).get_template(name)
    except TemplateNotFound as exc:
        raise RulesError(
            f"{templates_dir / 'posts' / name}: template missing; every channel needs one"
        ) from exc
    except TemplateSyntaxError as exc:
        raise RulesError(
            f"{templates_dir / 'posts' / name}, line {exc.lineno}: {exc.message}"
        ) from exc


# What each shortening step changes in the context, to skip steps a template ignores.
_STEP_VARIABLES = {
    "hashtags": frozenset({"hashtags", "hashtag_list"}),
    "secondary_facts": frozenset({"facts"}),
    "facts": frozenset({"facts"}),
    "compact": frozenset({"compact"}),
    "minimal": frozenset({"minimal", "compact"}),
}


@cache
def _template_variables(templates_dir: Path, channel: str) -> frozenset[str]:
    """Every context variable the templates of ``channel`` read."""
    from jinja2 import meta

    names = (
        ["email.subject.j2", "email.txt.j2", "email.html.j2"]
        if channel == "email"
        else [f"{channel}.j2"]
    )
    env = _environment(templates_dir, False)
    assert env.loader is not None  # _environment always gives one
    used: set[str] = set()
    for name in names:
        _template(templates_dir, name, name.endswith(".html.j2"))  # a clear error if missing
        source = env.loader.get_source(env, name)[0]
        used |= meta.find_undeclared_variables(env.parse(source))
    return frozenset(used)


@cache
def _flat_globals(template: Template) -> dict[str, Any]:
    """The template's globals (a ChainMap over the environment's) as one plain dict."""
    return dict(template.globals)


def _render(template: Template, context: dict[str, Any]) -> str:
    """``template.render(context)``, without copying the globals' ChainMap at every render.

    ``Template.render`` builds its context with ``dict(globals, **vars)`` and
    ``set(globals)`` over a ChainMap, in Python, at every call: half the cost of rendering
    a short post. The same context is built here from the globals flattened once.
    """
    from jinja2 import TemplateError, UndefinedError
    from jinja2.runtime import new_context

    flat = _flat_globals(template)
    environment = template.environment
    try:
        ctx = new_context(
            environment, template.name, template.blocks, {**flat, **context}, True, flat
        )
        try:
            return environment.concat(template.root_render_func(ctx))
        except Exception:
            # What Template.render does: re-raises, template lines in the traceback. A bare
            # raise after it keeps this function total: never None instead of the text.
            environment.handle_exception()
            raise
    except TemplateError as exc:
        # Names the template and the problem (e.g. an unsafe attribute); never data. A
        # misspelt field also gets the file, the line and the name meant.
        problem = _undefined(template, context, exc) if isinstance(exc, UndefinedError) else exc
        raise ContentError(f"template {template.name}: {problem}") from exc


_UNDEFINED_NAME = re.compile(r"^'([^']+)' is undefined$")
_UNDEFINED_FIELD = re.compile(r"has no attribute '([^']+)'$")


def _undefined(template: Template, context: dict[str, Any], exc: Exception) -> str:
    """``file:line: what is undefined — did you mean …?`` for an undefined name or field.

    The line is the template's own, from the traceback Jinja2 rewrites; the suggestion is
    the closest of the names the context holds (for ``theme.titel``, the fields of ``theme``).
    """
    filename = template.filename if template.filename not in (None, "<template>") else None
    line = next(
        (
            number
            for frame, number in reversed(list(traceback.walk_tb(exc.__traceback__)))
            if filename and frame.f_code.co_filename == filename
        ),
        None,
    )
    where = f"{filename}:{line}: " if filename and line else ""
    message = str(exc)
    named, field = _UNDEFINED_NAME.match(message), _UNDEFINED_FIELD.search(message)
    if named:
        name, owner = named.group(1), ""
        candidates = [key for key in {**_flat_globals(template), **context} if key[:1] != "_"]
    elif field:
        name = field.group(1)
        owner = _owner(filename, line, name)
        value = _lookup(context, owner)
        candidates = (
            list(vars(value)) if type(value) is _Data else sorted(_fields_in(context.values()))
        )
        message = f"'{owner}' has no field '{name}'" if owner else f"no field '{name}'"
    else:
        return f"{where}{message}"
    close = difflib.get_close_matches(name, candidates, n=1)
    prefix = f"{owner}." if owner else ""
    fix = (
        f"did you mean '{prefix}{close[0]}'?"
        if close
        else f"use one of {', '.join(sorted(c for c in candidates if c[:1] != '_'))}"
    )
    return f"{where}{message} — {fix}"


def _owner(filename: str | None, line: int | None, name: str) -> str:
    """``theme`` for ``{{ theme.titel }}``: what the template reads ``name`` on, at that line."""
    if not filename or not line:
        return ""
    try:
        text = Path(filename).read_text(encoding="utf-8").splitlines()[line - 1]
    except (OSError, IndexError, UnicodeDecodeError):
        return ""
    found = re.search(rf"([A-Za-z_][\w.]*)\.{re.escape(name)}\b", text)
    return found.group(1) if found else ""


def _lookup(context: dict[str, Any], dotted: str) -> Any:
    """The value at ``theme`` or ``segment.territory`` in ``context``, else None."""
    value: Any = context if dotted else None
    for part in dotted.split(".") if dotted else ():
        value = value.get(part) if isinstance(value, dict) else getattr(value, part, None)
    return value


def _fields_in(values: Any) -> set[str]:
    """Every field of the template data in ``values`` (and in lists of it, e.g. facts)."""
    names: set[str] = set()
    for value in values:
        if type(value) is _Data:
            names.update(vars(value))
        elif isinstance(value, list | tuple):
            names.update(_fields_in(value))
    return names


def _namespace(**values: Any) -> _Data:
    # Objects, not dicts, in the template context: the sandbox resolves attributes without
    # raising and catching an AttributeError for every {{ theme.title }}.
    return _Data(**values)
