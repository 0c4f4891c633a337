"""The campaign's settings in one typed object: ``campaign.yaml`` plus the environment.

Everything configurable is read here and nowhere else. Secrets never live in
``campaign.yaml``: S3 credentials come from the Airflow connection or the environment.

Environment variables (all optional):

``MATINALE_HOME``           project root (holds ``campaign.yaml``, ``segments/``, ``content_templates/``)
``MATINALE_CAMPAIGN_FILE``  path of the campaign file (default ``$MATINALE_HOME/campaign.yaml``)
``MATINALE_VAR``            runtime folder for inbox, work store and local copies (default ``$MATINALE_HOME/var``)
``MATINALE_INBOX``          inbox folder (default ``$MATINALE_VAR/inbox``)
``MATINALE_WORK_STORE``     ``local`` (default) or ``s3`` (Celery workers share no disk)
``MATINALE_BUNDLE_BUCKET``  / ``MATINALE_PRIVATE_BUCKET``  override the buckets of campaign.yaml
``MATINALE_AWS_CONN_ID``    Airflow connection for S3 (default ``aws_default``)
``MATINALE_S3_PUBLIC_URL``  the S3 address phones reach (``https://s3.example.org``), when the workers use
                            another one (``http://s3:8333`` in compose): presigned links are signed for it
``MATINALE_APPROVAL``       ``on`` / ``off``: human approval before publish (default ``off``)
``MATINALE_ALERT_CONN_ID``  Airflow connection holding the alert webhook URL (default ``matinale_alerts``)
``MATINALE_DEADLINE_ALERT`` ``on`` (default) / ``off``: the nightly DAG's publish-deadline alert. Off only
                            for ``dag.test()`` / ``airflow dags test`` runs: Airflow 3.3.2's test loop
                            crashes when a run with a DeadlineAlert succeeds (it reads the in-memory
                            DAG's alerts as database ids). The scheduler is not affected.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from functools import cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml

__all__ = [
    "Campaign",
    "Clocks",
    "Election",
    "Retention",
    "Settings",
    "SettingsError",
    "SilenceWindow",
    "cached_settings",
    "load_settings",
    "project_home",
]

CHANNELS: tuple[str, ...] = ("x", "facebook", "instagram", "whatsapp", "sms", "email")


class SettingsError(ValueError):
    """campaign.yaml or the environment holds a value Matinale cannot use."""


@dataclass(frozen=True)
class Campaign:
    name: str
    candidate: str
    slug: str
    website: str
    sender_name: str
    sender_email: str
    sms_sender_id: str
    legal_mention: str
    why_you_receive: str
    how_to_object: str
    unsubscribe_url: str
    sms_stop: str
    controller: str
    dpo_email: str


@dataclass(frozen=True)
class SilenceWindow:
    """A territory that votes on another day or in another zone (e.g. overseas, a day earlier).

    Its silence runs, like the main one, from 00:00 on the eve of ``day`` until ``polls_close``,
    both read on the territory's own clock (``zone``).
    """

    name: str
    day: date
    zone: ZoneInfo
    polls_close: time


@dataclass(frozen=True)
class Election:
    """One round of a vote: Code électoral L49 silence from 00:00 on the eve until polls close."""

    day: date
    name: str
    polls_close: time
    round: int | None = None
    extra_windows: tuple[SilenceWindow, ...] = ()


@dataclass(frozen=True)
class Clocks:
    """The two clocks and the night's fixed times, all wall-clock times in ``campaign_tz``.

    A time later than ``publish_deadline`` (e.g. a 23:30 start) belongs to the evening before
    the edition's morning.
    """

    campaign_tz: ZoneInfo
    team_tz: ZoneInfo
    nightly_start: time
    brief_cutoff: time
    publish_deadline: time
    approval_closes: time = time(12, 0)


@dataclass(frozen=True)
class Retention:
    """How long per-person data may be kept (GDPR storage limitation)."""

    private_outputs_days: int
    campaign_end: date | None
    after_end_days: int
    purge_suppression_after_end: bool

    @property
    def purge_all_from(self) -> date | None:
        """The first day on which every per-person file must be gone, if the end is known."""
        if self.campaign_end is None:
            return None
        return self.campaign_end + timedelta(days=self.after_end_days)


@dataclass(frozen=True)
class Settings:
    home: Path
    campaign_file: Path
    campaign: Campaign
    clocks: Clocks
    elections: tuple[Election, ...]
    allowed_domains: tuple[str, ...]
    presign_expiry_hours: int
    pii_allowlist: tuple[str, ...]
    max_quarantine_share: float
    min_segment_size: int
    channels: tuple[str, ...]
    variants: int
    bundle_bucket: str
    private_bucket: str
    var_dir: Path
    inbox: Path
    work_store: str
    aws_conn_id: str
    approval: bool
    alert_conn_id: str = "matinale_alerts"
    deadline_alert: bool = True
    retention: Retention = field(default_factory=lambda: Retention(30, None, 30, False))
    public_s3_url: str | None = None
    raw: dict[str, Any] = field(repr=False, compare=False, default_factory=dict)

    @property
    def templates_dir(self) -> Path:
        return self.home / "content_templates"

    @property
    def segments_dir(self) -> Path:
        return self.home / "segments"

    @property
    def work_dir(self) -> Path:
        return self.var_dir / "work"


def project_home() -> Path:
    """The project root: ``$MATINALE_HOME``, else the nearest folder holding campaign.yaml."""
    env = os.environ.get("MATINALE_HOME")
    if env:
        return Path(env).resolve()
    for start in (Path.cwd(), Path(__file__).resolve().parent):
        for candidate in (start, *start.parents):
            if (candidate / "campaign.yaml").is_file():
                return candidate
    raise SettingsError(
        "campaign.yaml not found: run from the project folder or set MATINALE_HOME to it"
    )


def _section(raw: dict[str, Any], name: str) -> dict[str, Any]:
    value = raw.get(name) or {}
    if not isinstance(value, dict):
        raise SettingsError(f"campaign.yaml: '{name}' must be a mapping, got {type(value).__name__}")
    return value


def _required(section: dict[str, Any], key: str, where: str) -> str:
    value = section.get(key)
    if value is None or str(value).strip() == "":
        raise SettingsError(f"campaign.yaml: '{where}.{key}' is required")
    return str(value)


def _zone(name: str, where: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise SettingsError(
            f"campaign.yaml: '{where}' = {name!r} is not an IANA time zone (e.g. Europe/Paris)"
        ) from exc


def _clock(value: Any, where: str) -> time:
    text = str(value)
    try:
        hours, minutes = text.split(":")
        return time(int(hours), int(minutes))
    except ValueError as exc:
        raise SettingsError(f"campaign.yaml: '{where}' = {text!r} must be HH:MM, e.g. 06:30") from exc


def _day(value: Any, where: str) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value))
    except ValueError as exc:
        raise SettingsError(f"campaign.yaml: '{where}' = {value!r} must be a date YYYY-MM-DD") from exc


def _silence_windows(item: dict[str, Any], where: str, default_zone: ZoneInfo, default_close: time) -> tuple[SilenceWindow, ...]:
    windows = []
    for index, extra in enumerate(item.get("extra_windows") or []):
        here = f"{where}.extra_windows[{index}]"
        if not isinstance(extra, dict) or "date" not in extra:
            raise SettingsError(
                f"campaign.yaml: '{here}' needs at least a date, e.g. "
                "{name: Outre-mer Amériques, date: 2027-04-10, timezone: America/Martinique}"
            )
        zone = _zone(str(extra["timezone"]), f"{here}.timezone") if extra.get("timezone") else default_zone
        close = _clock(extra["polls_close"], f"{here}.polls_close") if "polls_close" in extra else default_close
        windows.append(
            SilenceWindow(
                name=str(extra.get("name", "Territoire")),
                day=_day(extra["date"], f"{here}.date"),
                zone=zone,
                polls_close=close,
            )
        )
    return tuple(windows)


def _elections(raw: dict[str, Any], campaign_tz: ZoneInfo) -> tuple[Election, ...]:
    section = _section(raw, "elections")
    default_close = _clock(section.get("polls_close", "20:00"), "elections.polls_close")
    days = []
    for index, item in enumerate(section.get("days") or []):
        where = f"elections.days[{index}]"
        if not isinstance(item, dict) or "date" not in item:
            raise SettingsError(f"campaign.yaml: '{where}' needs a date, e.g. {{date: 2027-04-11}}")
        close = _clock(item["polls_close"], f"{where}.polls_close") if "polls_close" in item else default_close
        round_ = item.get("round")
        if round_ is not None and (not isinstance(round_, int) or round_ < 1):
            raise SettingsError(f"campaign.yaml: '{where}.round' must be a positive whole number (1, 2)")
        days.append(
            Election(
                day=_day(item["date"], f"{where}.date"),
                name=str(item.get("name", "Scrutin")),
                polls_close=close,
                round=round_,
                extra_windows=_silence_windows(item, where, campaign_tz, close),
            )
        )
    return tuple(sorted(days, key=lambda e: e.day))


def _check_wall_time(zone: ZoneInfo, moment: time, where: str) -> None:
    """Refuse a time that some night skips or repeats (a DST gap or fold) in ``zone``.

    Checked over this year and the next two: a night whose start does not exist would be
    silently moved by the scheduler, and a repeated one would be ambiguous.
    """
    first = date(date.today().year, 1, 1)
    for offset in range(3 * 366):
        day = first + timedelta(days=offset)
        local = datetime.combine(day, moment, tzinfo=zone)
        roundtrip = local.astimezone(ZoneInfo("UTC")).astimezone(zone)
        if roundtrip.replace(tzinfo=None) != local.replace(tzinfo=None):
            problem = "does not exist"
        elif local.replace(fold=1).utcoffset() != local.utcoffset():
            problem = "happens twice"
        else:
            continue
        raise SettingsError(
            f"campaign.yaml: '{where}' = {moment:%H:%M} {problem} on {day.isoformat()} in {zone.key} "
            "(daylight saving change); choose a time outside the change hour, e.g. 01:00"
        )


def _clocks(raw: dict[str, Any]) -> Clocks:
    section = _section(raw, "clocks")
    campaign_tz = _zone(str(section.get("campaign_timezone", "Europe/Paris")), "clocks.campaign_timezone")
    clocks = Clocks(
        campaign_tz=campaign_tz,
        team_tz=_zone(str(section.get("team_timezone", "America/Montreal")), "clocks.team_timezone"),
        nightly_start=_clock(section.get("nightly_start", "01:00"), "clocks.nightly_start"),
        brief_cutoff=_clock(section.get("brief_cutoff", "01:30"), "clocks.brief_cutoff"),
        publish_deadline=_clock(section.get("publish_deadline", "06:30"), "clocks.publish_deadline"),
        approval_closes=_clock(section.get("approval_closes", "12:00"), "clocks.approval_closes"),
    )
    for name in ("nightly_start", "brief_cutoff", "publish_deadline", "approval_closes"):
        _check_wall_time(campaign_tz, getattr(clocks, name), f"clocks.{name}")

    # Minutes since the previous evening's deadline: the night must read start → cut-off → deadline.
    def since_deadline(moment: time) -> int:
        minutes = moment.hour * 60 + moment.minute
        deadline = clocks.publish_deadline.hour * 60 + clocks.publish_deadline.minute
        return (minutes - deadline) % (24 * 60) or 24 * 60

    if not since_deadline(clocks.nightly_start) <= since_deadline(clocks.brief_cutoff) <= since_deadline(clocks.publish_deadline):
        raise SettingsError(
            "campaign.yaml: 'clocks' must read nightly_start ≤ brief_cutoff ≤ publish_deadline within one night "
            f"(got {clocks.nightly_start:%H:%M}, {clocks.brief_cutoff:%H:%M}, {clocks.publish_deadline:%H:%M})"
        )
    deadline_minutes = clocks.publish_deadline.hour * 60 + clocks.publish_deadline.minute
    closes_minutes = clocks.approval_closes.hour * 60 + clocks.approval_closes.minute
    if closes_minutes < deadline_minutes:
        raise SettingsError(
            f"campaign.yaml: 'clocks.approval_closes' ({clocks.approval_closes:%H:%M}) must not be before "
            f"'clocks.publish_deadline' ({clocks.publish_deadline:%H:%M}) on the edition's morning"
        )
    return clocks


def _retention(raw: dict[str, Any]) -> Retention:
    section = _section(raw, "retention")
    try:
        days = int(section.get("private_outputs_days", 30))
        after = int(section.get("after_end_days", 30))
    except (TypeError, ValueError) as exc:
        raise SettingsError("campaign.yaml: 'retention.private_outputs_days' and 'retention.after_end_days' must be whole numbers of days") from exc
    if days < 1 or after < 0:
        raise SettingsError("campaign.yaml: 'retention.private_outputs_days' must be ≥ 1 and 'retention.after_end_days' ≥ 0")
    end = section.get("campaign_end")
    return Retention(
        private_outputs_days=days,
        campaign_end=_day(end, "retention.campaign_end") if end else None,
        after_end_days=after,
        purge_suppression_after_end=bool(section.get("purge_suppression_after_end", False)),
    )


def _parse(raw: dict[str, Any], home: Path, campaign_file: Path) -> Settings:
    campaign = _section(raw, "campaign")
    sender = _section(raw, "sender")
    legal = _section(raw, "legal")
    clocks = _clocks(raw)
    links = _section(raw, "links")
    privacy = _section(raw, "privacy")
    content = _section(raw, "content")
    storage = _section(raw, "storage")

    channels = tuple(content.get("channels") or CHANNELS)
    unknown = sorted(set(channels) - set(CHANNELS))
    if unknown:
        raise SettingsError(
            f"campaign.yaml: 'content.channels' has unknown channel(s) {unknown}; "
            f"use only {list(CHANNELS)}"
        )
    share = float(privacy.get("max_quarantine_share", 0.20))
    if not 0 <= share <= 1:
        raise SettingsError("campaign.yaml: 'privacy.max_quarantine_share' must be between 0 and 1")
    expiry = int(links.get("presign_expiry_hours", 48))
    if not 1 <= expiry <= 168:
        raise SettingsError(
            "campaign.yaml: 'links.presign_expiry_hours' must be 1..168 (S3 presigned links last 7 days at most)"
        )
    var_dir = Path(os.environ.get("MATINALE_VAR", home / "var")).resolve()
    work_store = os.environ.get("MATINALE_WORK_STORE", "local").strip().lower()
    if work_store not in {"local", "s3"}:
        raise SettingsError(f"MATINALE_WORK_STORE must be 'local' or 's3', got {work_store!r}")
    approval = os.environ.get("MATINALE_APPROVAL", "off").strip().lower() in {"1", "on", "true", "yes"}

    return Settings(
        home=home,
        campaign_file=campaign_file,
        campaign=Campaign(
            name=_required(campaign, "name", "campaign"),
            candidate=_required(campaign, "candidate", "campaign"),
            slug=_required(campaign, "slug", "campaign"),
            website=_required(campaign, "website", "campaign"),
            sender_name=_required(sender, "name", "sender"),
            sender_email=_required(sender, "email", "sender"),
            sms_sender_id=str(sender.get("sms_sender_id", "")),
            legal_mention=_required(legal, "mention", "legal"),
            why_you_receive=_required(legal, "why_you_receive", "legal"),
            how_to_object=_required(legal, "how_to_object", "legal"),
            unsubscribe_url=_required(legal, "unsubscribe_url", "legal"),
            sms_stop=_required(legal, "sms_stop", "legal"),
            controller=str(legal.get("controller", "")),
            dpo_email=str(legal.get("dpo_email", "")),
        ),
        clocks=clocks,
        elections=_elections(raw, clocks.campaign_tz),
        allowed_domains=tuple(str(d).lower() for d in links.get("allowed_domains") or ()),
        presign_expiry_hours=expiry,
        pii_allowlist=tuple(str(v) for v in privacy.get("pii_allowlist") or ()),
        max_quarantine_share=share,
        min_segment_size=int(privacy.get("min_segment_size", 50)),
        channels=channels,
        variants=int(content.get("variants", 3)),
        bundle_bucket=os.environ.get("MATINALE_BUNDLE_BUCKET") or str(storage.get("bundle_bucket", "matinale-bundle")),
        private_bucket=os.environ.get("MATINALE_PRIVATE_BUCKET") or str(storage.get("private_bucket", "matinale-private")),
        var_dir=var_dir,
        inbox=Path(os.environ.get("MATINALE_INBOX", var_dir / "inbox")).resolve(),
        work_store=work_store,
        aws_conn_id=os.environ.get("MATINALE_AWS_CONN_ID", "aws_default"),
        approval=approval,
        alert_conn_id=os.environ.get("MATINALE_ALERT_CONN_ID", "matinale_alerts"),
        deadline_alert=os.environ.get("MATINALE_DEADLINE_ALERT", "on").strip().lower() not in {"0", "off", "false", "no"},
        retention=_retention(raw),
        public_s3_url=_public_s3_url(os.environ.get("MATINALE_S3_PUBLIC_URL", "")),
        raw=raw,
    )


def _public_s3_url(value: str) -> str | None:
    """``MATINALE_S3_PUBLIC_URL``: an http(s) origin (a path is allowed for path-style proxies)."""
    from urllib.parse import urlsplit

    value = value.strip().rstrip("/")
    if not value:
        return None
    parts = urlsplit(value)
    if parts.scheme not in {"http", "https"} or not parts.hostname or parts.query or parts.fragment or parts.username:
        raise SettingsError(
            f"MATINALE_S3_PUBLIC_URL={value!r}: give the address phones reach the S3 server at, "
            "like https://s3.example.org (no query, no credentials)"
        )
    return value


class _Loader(yaml.SafeLoader):
    """SafeLoader that keeps dates as text, so a bad one is reported with its field name."""


_Loader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def load_settings(campaign_file: Path | None = None) -> Settings:
    """Read campaign.yaml (or ``campaign_file``) and the environment into a Settings."""
    home = project_home()
    path = Path(campaign_file or os.environ.get("MATINALE_CAMPAIGN_FILE") or home / "campaign.yaml")
    try:
        raw = yaml.load(path.read_text(encoding="utf-8"), Loader=_Loader) or {}
    except FileNotFoundError as exc:
        raise SettingsError(f"{path}: campaign file not found") from exc
    except yaml.YAMLError as exc:
        raise SettingsError(f"{path}: not valid YAML: {exc}") from exc
    if not isinstance(raw, dict):
        raise SettingsError(f"{path}: the campaign file must be a mapping of sections")
    return _parse(raw, home, path.resolve())


@cache
def cached_settings() -> Settings:
    """Settings for the current process (tasks call this; tests call load_settings)."""
    return load_settings()
