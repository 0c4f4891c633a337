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
``MATINALE_APPROVAL``       ``on`` / ``off``: human approval before publish (default ``off``)
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import date, time
from functools import cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml

__all__ = [
    "Campaign",
    "Clocks",
    "Election",
    "Settings",
    "SettingsError",
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
class Election:
    day: date
    name: str
    polls_close: time


@dataclass(frozen=True)
class Clocks:
    campaign_tz: ZoneInfo
    team_tz: ZoneInfo
    nightly_start: time
    brief_cutoff: time
    publish_deadline: time


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


def _elections(raw: dict[str, Any]) -> tuple[Election, ...]:
    section = _section(raw, "elections")
    default_close = _clock(section.get("polls_close", "20:00"), "elections.polls_close")
    days = []
    for index, item in enumerate(section.get("days") or []):
        where = f"elections.days[{index}]"
        if not isinstance(item, dict) or "date" not in item:
            raise SettingsError(f"campaign.yaml: '{where}' needs a date, e.g. {{date: 2027-04-11}}")
        day = item["date"]
        if not isinstance(day, date):
            try:
                day = date.fromisoformat(str(day))
            except ValueError as exc:
                raise SettingsError(f"campaign.yaml: '{where}.date' must be YYYY-MM-DD") from exc
        close = _clock(item.get("polls_close", default_close.strftime("%H:%M")), f"{where}.polls_close")
        days.append(Election(day=day, name=str(item.get("name", "Scrutin")), polls_close=close))
    return tuple(sorted(days, key=lambda e: e.day))


def _parse(raw: dict[str, Any], home: Path, campaign_file: Path) -> Settings:
    campaign = _section(raw, "campaign")
    sender = _section(raw, "sender")
    legal = _section(raw, "legal")
    clocks = _section(raw, "clocks")
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
        clocks=Clocks(
            campaign_tz=_zone(str(clocks.get("campaign_timezone", "Europe/Paris")), "clocks.campaign_timezone"),
            team_tz=_zone(str(clocks.get("team_timezone", "America/Montreal")), "clocks.team_timezone"),
            nightly_start=_clock(clocks.get("nightly_start", "01:00"), "clocks.nightly_start"),
            brief_cutoff=_clock(clocks.get("brief_cutoff", "01:30"), "clocks.brief_cutoff"),
            publish_deadline=_clock(clocks.get("publish_deadline", "06:30"), "clocks.publish_deadline"),
        ),
        elections=_elections(raw),
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
        raw=raw,
    )


def load_settings(campaign_file: Path | None = None) -> Settings:
    """Read campaign.yaml (or ``campaign_file``) and the environment into a Settings."""
    home = project_home()
    path = Path(campaign_file or os.environ.get("MATINALE_CAMPAIGN_FILE") or home / "campaign.yaml")
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
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
