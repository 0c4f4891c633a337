"""Pre-flight: is the project ready for tonight, checked in seconds without running a night.

``matinale check`` (the data team, in the evening) and the night's ``prepare`` task call the
same functions: one per area, each returning a :class:`Check` (``ok``, ``warning`` or
``error`` with its messages), and :func:`check_all` running them in order. Every area calls
the loader the night calls (``load_settings``, ``load_definitions``, ``load_rules``,
``load_kit``, ``load_brief``, ``PostWriter``, ``read_supporters``, ``load_suppression``):
their errors already name the file, the line and what to do, so nothing is validated twice.
The few checks no loader makes are here because they cross two files (a framing key of the
brief against the age bands) or the clock (an old export).

No Airflow here: the night's glue turns a not-ready :class:`Readiness` into a failed task.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from matinale.errors import MatinaleError
from matinale.segment.types import Segment

if TYPE_CHECKING:
    from matinale.content import Brief, ContentRules
    from matinale.segment import Definitions
    from matinale.settings import Settings
    from matinale.visuals import CardKit

__all__ = [
    "AREAS",
    "ERROR",
    "OK",
    "WARNING",
    "Check",
    "NotReadyError",
    "Readiness",
    "check_all",
    "check_brief",
    "check_campaign",
    "check_cards",
    "check_framing",
    "check_inbox",
    "check_project",
    "check_segments",
    "check_templates",
    "default_edition",
    "sample_segment",
    "suppression_warning",
]

T = TypeVar("T")
OK, WARNING, ERROR = "ok", "warning", "error"
#: The areas in the order they are checked and printed.
AREAS = ("campaign", "segments", "framing", "cards", "brief", "templates", "inbox")
#: An export older than this when the night starts is reported (a warning: the night runs).
STALE_EXPORT = timedelta(hours=24)


class NotReadyError(MatinaleError, RuntimeError):
    """The night's inputs are not ready: every finding of every area, one per line."""


@dataclass(frozen=True)
class Check:
    """One area's verdict: ``ok``, ``warning`` (the night runs) or ``error`` (it would stop)."""

    area: str
    status: str
    messages: tuple[str, ...] = ()
    #: The errors raised by the loaders, as they were (for the night's prepare to raise).
    raised: tuple[MatinaleError, ...] = field(default=(), compare=False, repr=False)

    def to_json(self) -> dict[str, Any]:
        return {"area": self.area, "status": self.status, "messages": list(self.messages)}


@dataclass(frozen=True)
class Readiness:
    """Every area's check for one edition; ``ready`` when none is an error."""

    edition: date
    checks: tuple[Check, ...] = field(default_factory=tuple)

    @property
    def ready(self) -> bool:
        return all(check.status != ERROR for check in self.checks)

    def errors(self) -> list[str]:
        """Every error, as ``area: message``."""
        return [f"{c.area}: {m}" for c in self.checks if c.status == ERROR for m in c.messages]

    def warnings(self) -> list[str]:
        return [f"{c.area}: {m}" for c in self.checks if c.status == WARNING for m in c.messages]

    def failure(self) -> MatinaleError | None:
        """What the night's prepare raises, or None when ready.

        A single error raised by a loader is raised as it was (a ``BriefError`` stays one);
        several, or one found here, make one :class:`NotReadyError` naming every one.
        """
        if self.ready:
            return None
        errors = self.errors()
        raised = [error for check in self.checks for error in check.raised]
        if len(raised) == 1 and len(_messages(raised[0])) == len(errors):
            return raised[0]
        return NotReadyError(
            f"Edition {self.edition} is not ready (`matinale check --edition {self.edition}` "
            "shows the same):\n- " + "\n- ".join(errors)
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "edition": self.edition.isoformat(),
            "ready": self.ready,
            "checks": [check.to_json() for check in self.checks],
        }

    def text(self) -> str:
        """One line per area, then its findings indented (what ``matinale check`` prints)."""
        lines = [f"Edition {self.edition.isoformat()}:"]
        for check in self.checks:
            notes = ("; ".join(check.messages),) if check.status == OK else check.messages
            first, *rest = notes or ("",)
            lines.append(f"  {check.area:<10} {check.status:<8} {first}".rstrip())
            lines.extend(f"  {'':<10} {'':<8} {message}" for message in rest)
        errors = [c.area for c in self.checks if c.status == ERROR]
        warned = [c.area for c in self.checks if c.status == WARNING]
        verdict = f"NOT ready: errors in {', '.join(errors)}" if errors else "Ready"
        lines.append(verdict + (f"; warnings in {', '.join(warned)}." if warned else "."))
        return "\n".join(lines)


class _Findings:
    """What one area found; a MatinaleError raised inside ``guard`` becomes an error."""

    def __init__(self, area: str) -> None:
        self.area = area
        self.errors: list[str] = []
        self.warnings: list[str] = []
        self.notes: list[str] = []
        self.raised: list[MatinaleError] = []

    @contextmanager
    def guard(self) -> Iterator[None]:
        try:
            yield
        except MatinaleError as exc:
            self.errors.extend(_messages(exc))
            self.raised.append(exc)

    def check(self) -> Check:
        if self.errors:
            messages = tuple(self.errors + self.warnings)
            return Check(self.area, ERROR, messages, tuple(self.raised))
        if self.warnings:
            return Check(self.area, WARNING, tuple(self.warnings))
        return Check(self.area, OK, tuple(self.notes))


def _messages(exc: MatinaleError) -> list[str]:
    """A ConfigError's findings one by one (file:line: field: message — fix), else its message."""
    findings = getattr(exc, "findings", ())
    return [str(finding) for finding in findings] if findings else [str(exc)]


def _not_checked(area: str, because: str) -> Check:
    return Check(area, WARNING, (f"not checked until {because} loads",))


# ------------------------------------------------------------------ the areas


def check_campaign(settings: Settings, edition: date) -> Check:
    """campaign.yaml (loaded by ``load_settings``): the night's times, the electoral silence."""
    from matinale.schedule import freeze_for, night_of, two_clocks

    found = _Findings("campaign")
    night = night_of(edition, settings.clocks)
    found.notes.append(
        f"{settings.campaign_file.name}: {len(settings.channels)} channel(s); the night starts "
        f"{night.start:%Y-%m-%d} {two_clocks(night.start, settings.clocks)}"
    )
    freeze = freeze_for(night.deadline, settings)
    if freeze is not None:
        found.warnings.append(
            f"{freeze.reason}: the night builds edition {edition} but publishes nothing "
            f"(elections in {settings.campaign_file.name})"
        )
    return found.check()


def _loaded(
    area: str, load: Callable[[], T], describe: Callable[[T], str]
) -> tuple[Check, T | None]:
    """An area that is one loader: its errors, else what it loaded in a few words."""
    found = _Findings(area)
    value = None
    with found.guard():
        value = load()
        found.notes.append(describe(value))
    return found.check(), value


def check_segments(settings: Settings) -> tuple[Check, Definitions | None]:
    """segments/: age bands, profiles and territorial packs, as the segment stage reads them."""
    from matinale.segment import load_definitions

    return _loaded(
        "segments",
        lambda: load_definitions(settings.segments_dir),
        lambda d: f"{len(d.bands)} age band(s), {len(d.territories)} territorial pack(s)",
    )


def _templates_file(
    settings: Settings, area: str, load: Callable[[Path], T], describe: Callable[[T], str]
) -> Check:
    return _loaded(area, lambda: load(settings.templates_dir), describe)[0]


def _rules_summary(rules: ContentRules) -> str:
    return f"{len(rules.angles)} angle(s), {len(rules.rules)} rule(s)"


def _kit_summary(kit: CardKit) -> str:
    return f"formats {', '.join(kit.layouts)}; contrast passes WCAG 2.1 AA"


def check_framing(settings: Settings) -> Check:
    """content_templates/framing.yaml and channels.yaml: rules, angles, shortening steps."""
    from matinale.content import load_rules

    return _templates_file(settings, "framing", load_rules, _rules_summary)


def check_cards(settings: Settings) -> Check:
    """brand.yaml and the card layouts, with the WCAG contrast of every text layer."""
    from matinale.visuals import load_kit

    return _templates_file(settings, "cards", load_kit, _kit_summary)


def check_brief(
    settings: Settings, edition: date, definitions: Definitions | None
) -> tuple[Check, Brief | None]:
    """The brief of ``edition``: fields and links (``load_brief``), framing keys, card glyphs."""
    from matinale.content import load_brief
    from matinale.night.run import brief_path
    from matinale.visuals import load_kit
    from matinale.visuals.text import card_glyph_problems

    found = _Findings("brief")
    path = brief_path(settings.inbox, edition)
    brief = None
    with found.guard():
        brief = load_brief(path, edition, allowed_domains=settings.allowed_domains)
        found.notes.append(f"{path.name}: {len(brief.themes)} theme(s)")
        if definitions is not None:
            found.errors.extend(_framing_key_problems(settings, path, brief, definitions))
        with suppress(MatinaleError):  # a broken card kit is the cards area's error
            texts = card_glyph_problems(load_kit(settings.templates_dir), brief.card_texts())
            found.errors.extend(f"{path.name}: {text}" for text in texts)
    return found.check(), brief if not found.errors else None


def _framing_key_problems(
    settings: Settings, path: Path, brief: Brief, definitions: Definitions
) -> list[str]:
    """A framing line whose key no segment will ever read (a misspelt band id)."""
    from matinale.content import BriefError, load_rules
    from matinale.yamlfile import load_yaml

    bands = [band.id for band in definitions.bands]
    known = {*bands, *(pack.id for pack in definitions.territories)}
    try:
        known.update(load_rules(settings.templates_dir).angles)
    except MatinaleError:
        pass  # the framing area reports it
    problems = []
    for key in brief.framing:
        band, _, profile = key.rpartition("-")
        if key in known or (band in bands and profile[:1] == "p" and profile[1:].isdigit()):
            continue
        close = difflib.get_close_matches(key, bands, n=1)
        fix = f"did you mean '{close[0]}'?" if close else f"use an age band id: {', '.join(bands)}"
        doc = load_yaml(path, error=BriefError)
        finding = doc.finding(
            ("framing", key),
            f"key '{key}' matches no age band of segments/age_bands.yaml, angle or segment",
            fix,
        )
        problems.append(str(finding))
    return problems


def sample_segment(definitions: Definitions) -> Segment:
    """A segment as the segment stage writes one: the first age band × the first profile."""
    band = definitions.bands[0]
    interests = tuple(definitions.profiles.interests)[:3]
    words = [definitions.profiles.interests[key] for key in interests[:1]]
    return Segment(
        id=f"{band.id}-p01",
        kind="main",
        band=band.id,
        band_label=band.label,
        framing=band.framing,
        profile="p01",
        label=f"{band.label} · {words[0] if words else 'profil 1'}",
        size=1000,
        top_interests=interests,
    )


def _sample_brief(settings: Settings, edition: date) -> Brief:
    """The project's sample brief, dated ``edition``: templates are checked before the brief is in."""
    from matinale.content import load_brief

    return replace(load_brief(settings.templates_dir / "sample_brief.yaml"), edition=edition)


def check_templates(
    settings: Settings, edition: date, definitions: Definitions | None, brief: Brief | None
) -> Check:
    """Every channel's templates rendered, fitted and checked on a sample segment, as the night does.

    With the edition's brief when it loads; else with the sample brief (links then not held
    to the allowed domains: the brief area reports the real brief's problems).
    """
    from matinale.content import PostWriter

    if definitions is None:
        return _not_checked("templates", "segments/")
    found = _Findings("templates")
    segment = sample_segment(definitions)
    with found.guard():
        if brief is not None:
            writer = PostWriter.from_settings(brief, settings)
            which = "the edition's brief"
        else:
            writer = PostWriter(
                _sample_brief(settings, edition),
                campaign=settings.campaign,
                channels=settings.channels,
                templates_dir=settings.templates_dir,
                variants=settings.variants,
            )
            which = "the sample brief (the edition's brief is not ready)"
        posts = writer.segment(segment)
        found.notes.append(
            f"{len(posts.posts)} post(s) of {', '.join(settings.channels)} rendered for "
            f"{segment.id} with {which}"
        )
    return found.check()


def suppression_warning(folder: Path) -> str | None:
    """What the night does without a suppression folder (nobody is suppressed), or None.

    The night reads a missing folder as an empty list (``load_suppression``) and goes on;
    ``matinale check`` and ``matinale validate`` say so as a warning, never stop on it.
    """
    if folder.is_dir() or folder.is_file():
        return None
    return (
        f"{folder}: not found, so nobody is suppressed tonight (the night goes on without it); "
        "create it, empty if nobody has objected, and drop the objections there"
    )


def check_inbox(
    settings: Settings,
    edition: date,
    *,
    read: bool = True,
    modified: Callable[[Path], float] | None = None,
) -> Check:
    """The newest supporter export (found, readable, not old) and the suppression folder.

    ``read`` reads the whole export as ingest does (``read_supporters``); the night's
    prepare leaves that to ingest, which reads it next and reports the rows it refuses.
    """
    from matinale.ingest import read_supporters
    from matinale.night.run import newest_supporter_file
    from matinale.privacy import load_suppression
    from matinale.schedule import night_of, two_clocks

    found = _Findings("inbox")
    with found.guard():
        supporters = newest_supporter_file(settings.inbox)
        if read:
            rows = len(read_supporters(supporters))
            found.notes.append(f"{supporters.name}: {rows:,} row(s) readable".replace(",", " "))
        else:
            found.notes.append(f"{supporters.name}: found")
        stamp = (modified or (lambda p: p.stat().st_mtime))(supporters)
        written = datetime.fromtimestamp(stamp, UTC)
        start = night_of(edition, settings.clocks).start
        if start - written > STALE_EXPORT:
            hours = int((start - written).total_seconds() // 3600)
            found.warnings.append(
                f"{supporters}: written {written.astimezone(settings.clocks.team_tz):%Y-%m-%d %H:%M} "
                f"({settings.clocks.team_tz.key}), {hours} h before the night starts; drop a fresh "
                f"export in {supporters.parent} before {two_clocks(start, settings.clocks)}"
            )
    folder = settings.inbox / "suppression"
    warning = suppression_warning(folder)
    if warning:
        found.warnings.append(warning)
    else:
        with found.guard():
            entries = load_suppression(folder).entries
            found.notes.append(f"suppression: {entries:,} entr(ies)".replace(",", " "))
    return found.check()


# ------------------------------------------------------------------ all of them


def check_all(settings: Settings, edition: date, *, read_supporters: bool = True) -> Readiness:
    """Every area for ``edition``, in :data:`AREAS` order.

    A MatinaleError found is an area's error; any other exception is a bug and propagates
    (``matinale check`` exits 2 on it: it could not check).
    """
    try:
        segments, definitions = check_segments(settings)
        brief_check, brief = check_brief(settings, edition, definitions)
        checks = (
            check_campaign(settings, edition),
            segments,
            check_framing(settings),
            check_cards(settings),
            brief_check,
            check_templates(settings, edition, definitions, brief),
            check_inbox(settings, edition, read=read_supporters),
        )
    finally:
        _forget_read_files()
    return Readiness(edition, checks)


def _forget_read_files() -> None:
    """Drop what the check cached by path, so a later stage in this process reads files afresh.

    ``load_rules`` and the compiled templates are cached per folder for the night; a file
    edited after the check (and before content runs in the same process, as under
    ``dag.test``) must be read again. (The card kit is cached by content: nothing to drop.)
    """
    from matinale.content import load_rules
    from matinale.content.render import _environment, _template_variables

    load_rules.cache_clear()
    _environment.cache_clear()
    _template_variables.cache_clear()


def default_edition(now: datetime, settings: Settings | None = None) -> date:
    """The next edition at ``now``: today's (Paris date) before the publish deadline, else tomorrow's."""
    from matinale.schedule import edition_for

    if settings is not None:
        return edition_for(now, settings.clocks)
    from matinale.campaign_file import ClocksSection
    from matinale.settings import Clocks

    c = ClocksSection()
    clocks = Clocks(
        c.campaign_timezone, c.team_timezone, c.nightly_start, c.brief_cutoff, c.publish_deadline
    )
    return edition_for(now, clocks)


def check_project(
    edition: date | None = None,
    *,
    now: datetime | None = None,
    campaign_file: Path | None = None,
    load: Callable[[Path | None], Settings] | None = None,
) -> Readiness:
    """``matinale check``: load campaign.yaml, then :func:`check_all` for ``edition``.

    Without ``edition``, the next one at ``now`` (default: the clock). When campaign.yaml
    does not load, that is the campaign area's error and the other areas wait for it.
    """
    from matinale.settings import load_settings

    now = now or datetime.now(UTC)
    try:
        settings = (load or load_settings)(campaign_file)
    except MatinaleError as exc:
        campaign = Check("campaign", ERROR, tuple(_messages(exc)))
        rest = (_not_checked(area, "campaign.yaml") for area in AREAS[1:])
        return Readiness(edition or default_edition(now), (campaign, *rest))
    return check_all(settings, edition or default_edition(now, settings))
