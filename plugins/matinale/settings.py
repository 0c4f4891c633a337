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
from typing import Any, Literal
from zoneinfo import ZoneInfo

from pydantic import ConfigDict, Field, ValidationInfo, field_validator

from matinale.schemas.fields import Clock, Day, Required, Section, Zone
from matinale.yamlfile import ConfigError, Fix, load_yaml

__all__ = [
    "Campaign",
    "CampaignFile",
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

Channel = Literal["x", "facebook", "instagram", "whatsapp", "sms", "email"]
CHANNELS: tuple[Channel, ...] = ("x", "facebook", "instagram", "whatsapp", "sms", "email")


class SettingsError(ConfigError):
    """campaign.yaml or the environment holds a value Matinale cannot use.

    A ValueError; ``findings`` lists every problem of the file with its line and fix.
    """


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


# ------------------------------------------------------------------ campaign.yaml, as validated


class CampaignSection(Section):
    """Who the campaign is."""

    name: Required
    candidate: Required
    slug: Required
    website: Required


class SenderSection(Section):
    """Who sends direct messages (SMS, e-mail): shown in every one of them."""

    name: Required
    email: Required
    sms_sender_id: str = ""


class LegalSection(Section):
    """Mandatory mentions carried by direct messages and printed on every card."""

    mention: Required
    why_you_receive: Required
    how_to_object: Required
    unsubscribe_url: Required
    sms_stop: Required
    controller: str = ""
    dpo_email: str = ""


class ClocksSection(Section):
    """The two clocks and the night's wall-clock times, in campaign_timezone."""

    model_config = ConfigDict(validate_default=True)  # the checks below also see the defaults

    campaign_timezone: Zone = ZoneInfo("Europe/Paris")
    team_timezone: Zone = ZoneInfo("America/Montreal")
    nightly_start: Clock = Field(default=time(1, 0), description="The DAG's schedule")
    brief_cutoff: Clock = Field(
        default=time(1, 30), description="The night fails early without the brief by then"
    )
    publish_deadline: Clock = Field(
        default=time(6, 30), description="Staff are alerted if the run is not done by then"
    )
    approval_closes: Clock = Field(
        default=time(12, 0),
        description="With MATINALE_APPROVAL=on: no answer by then = not published",
    )

    @field_validator("nightly_start", "brief_cutoff", "publish_deadline", "approval_closes")
    @classmethod
    def _one_night(cls, moment: time, info: ValidationInfo) -> time:
        zone = info.data.get("campaign_timezone")
        if zone is not None:
            _check_wall_time(zone, moment)
        if (
            info.field_name == "publish_deadline"
            and {"nightly_start", "brief_cutoff"} <= info.data.keys()
        ):
            start, cutoff = info.data["nightly_start"], info.data["brief_cutoff"]
            if not _since(start, moment) <= _since(cutoff, moment) <= _since(moment, moment):
                raise Fix(
                    f"the night must read nightly_start ≤ brief_cutoff ≤ publish_deadline within one night "
                    f"(got {start:%H:%M}, {cutoff:%H:%M}, {moment:%H:%M})",
                    "reorder the three times",
                )
        deadline = info.data.get("publish_deadline")
        if info.field_name == "approval_closes" and deadline is not None and moment < deadline:
            raise Fix(
                f"{moment:%H:%M} is before publish_deadline ({deadline:%H:%M}) on the edition's morning",
                "close approval at or after the publish deadline",
            )
        return moment


def _since(moment: time, deadline: time) -> int:
    """Minutes since the previous evening's deadline: the night reads start → cut-off → deadline."""
    minutes = moment.hour * 60 + moment.minute
    return (minutes - (deadline.hour * 60 + deadline.minute)) % (24 * 60) or 24 * 60


def _check_wall_time(zone: ZoneInfo, moment: time) -> None:
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
        raise Fix(
            f"{moment:%H:%M} {problem} on {day.isoformat()} in {zone.key} (daylight saving change)",
            "choose a time outside the change hour, e.g. 01:00",
        )


class WindowSection(Section):
    """A territory voting on another day or clock: silent from 00:00 on its eve until its polls close."""

    name: str = "Territoire"
    date: Day = Field(examples=["2027-04-10"])
    timezone: Zone | None = Field(default=None, description="Default: clocks.campaign_timezone")
    polls_close: Clock | None = Field(default=None, description="Default: the day's polls_close")


class DaySection(Section):
    """One round of the vote (Code électoral L49: silence from 00:00 on the eve until polls close)."""

    date: Day = Field(examples=["2027-04-11"])
    name: str = "Scrutin"
    round: int | None = Field(default=None, ge=1, description="A positive whole number (1, 2)")
    polls_close: Clock | None = Field(default=None, description="Default: elections.polls_close")
    extra_windows: list[WindowSection] = []


class ElectionsSection(Section):
    """The votes of the campaign: nothing is published during their electoral silence."""

    polls_close: Clock = time(20, 0)
    days: list[DaySection] = []


class RetentionSection(Section):
    """How long per-person files are kept (GDPR storage limitation)."""

    private_outputs_days: int = Field(default=30, ge=1, description="At least 1 day")
    campaign_end: Day | None = None
    after_end_days: int = Field(default=30, ge=0, description="0 or more days")
    purge_suppression_after_end: bool = False


class LinksSection(Section):
    allowed_domains: list[str] = []
    presign_expiry_hours: int = Field(
        default=48, ge=1, le=168, description="1 to 168: S3 presigned links last 7 days at most"
    )


class PrivacySection(Section):
    pii_allowlist: list[str] = []
    max_quarantine_share: float = Field(
        default=0.20, ge=0, le=1, description="A share between 0 and 1"
    )
    min_segment_size: int = Field(default=50, ge=0)


class ContentSection(Section):
    channels: list[Channel] = list(CHANNELS)
    variants: int = Field(default=3, ge=1)


class StorageSection(Section):
    bundle_bucket: str = "matinale-bundle"
    private_bucket: str = "matinale-private"


class CampaignFile(Section):
    """campaign.yaml: the campaign's settings (secrets never live here)."""

    model_config = ConfigDict(title="campaign.yaml")

    campaign: CampaignSection
    sender: SenderSection
    legal: LegalSection
    clocks: ClocksSection = ClocksSection()
    elections: ElectionsSection = ElectionsSection()
    retention: RetentionSection = RetentionSection()
    links: LinksSection = LinksSection()
    privacy: PrivacySection = PrivacySection()
    content: ContentSection = ContentSection()
    storage: StorageSection = StorageSection()
    limits: dict[str, int] | None = Field(
        None, description="Bytes per bundle file kind (see matinale.checks.DEFAULT_LIMITS)"
    )


# ------------------------------------------------------------------ the Settings object


def _settings(file: CampaignFile, raw: dict[str, Any], home: Path, campaign_file: Path) -> Settings:
    c, legal = file.clocks, file.legal
    clocks = Clocks(
        c.campaign_timezone,
        c.team_timezone,
        c.nightly_start,
        c.brief_cutoff,
        c.publish_deadline,
        c.approval_closes,
    )
    elections = []
    for day in file.elections.days:
        close = file.elections.polls_close if day.polls_close is None else day.polls_close
        windows = tuple(
            SilenceWindow(
                w.name,
                w.date,
                w.timezone or clocks.campaign_tz,
                close if w.polls_close is None else w.polls_close,
            )
            for w in day.extra_windows
        )
        elections.append(Election(day.date, day.name, close, day.round, windows))
    r = file.retention
    var_dir = Path(os.environ.get("MATINALE_VAR", home / "var")).resolve()
    work_store = os.environ.get("MATINALE_WORK_STORE", "local").strip().lower()
    if work_store not in {"local", "s3"}:
        raise SettingsError(f"MATINALE_WORK_STORE must be 'local' or 's3', got {work_store!r}")
    return Settings(
        home=home,
        campaign_file=campaign_file,
        campaign=Campaign(
            **file.campaign.model_dump(),
            sender_name=file.sender.name,
            sender_email=file.sender.email,
            sms_sender_id=file.sender.sms_sender_id,
            legal_mention=legal.mention,
            why_you_receive=legal.why_you_receive,
            how_to_object=legal.how_to_object,
            unsubscribe_url=legal.unsubscribe_url,
            sms_stop=legal.sms_stop,
            controller=legal.controller,
            dpo_email=legal.dpo_email,
        ),
        clocks=clocks,
        elections=tuple(sorted(elections, key=lambda e: e.day)),
        allowed_domains=tuple(d.lower() for d in file.links.allowed_domains),
        presign_expiry_hours=file.links.presign_expiry_hours,
        pii_allowlist=tuple(file.privacy.pii_allowlist),
        max_quarantine_share=file.privacy.max_quarantine_share,
        min_segment_size=file.privacy.min_segment_size,
        channels=tuple(file.content.channels) or CHANNELS,
        variants=file.content.variants,
        bundle_bucket=os.environ.get("MATINALE_BUNDLE_BUCKET") or file.storage.bundle_bucket,
        private_bucket=os.environ.get("MATINALE_PRIVATE_BUCKET") or file.storage.private_bucket,
        var_dir=var_dir,
        inbox=Path(os.environ.get("MATINALE_INBOX", var_dir / "inbox")).resolve(),
        work_store=work_store,
        aws_conn_id=os.environ.get("MATINALE_AWS_CONN_ID", "aws_default"),
        approval=os.environ.get("MATINALE_APPROVAL", "off").strip().lower()
        in {"1", "on", "true", "yes"},
        alert_conn_id=os.environ.get("MATINALE_ALERT_CONN_ID", "matinale_alerts"),
        deadline_alert=os.environ.get("MATINALE_DEADLINE_ALERT", "on").strip().lower()
        not in {"0", "off", "false", "no"},
        retention=Retention(
            r.private_outputs_days, r.campaign_end, r.after_end_days, r.purge_suppression_after_end
        ),
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
    if (
        parts.scheme not in {"http", "https"}
        or not parts.hostname
        or parts.query
        or parts.fragment
        or parts.username
    ):
        raise SettingsError(
            f"MATINALE_S3_PUBLIC_URL={value!r}: give the address phones reach the S3 server at, "
            "like https://s3.example.org (no query, no credentials)"
        )
    return value


def load_settings(campaign_file: Path | None = None) -> Settings:
    """Read campaign.yaml (or ``campaign_file``) and the environment into a Settings.

    Duplicate top-level sections keep PyYAML's rule (the last one wins), as before.
    """
    home = project_home()
    path = Path(campaign_file or os.environ.get("MATINALE_CAMPAIGN_FILE") or home / "campaign.yaml")
    doc = load_yaml(path, error=SettingsError, last_key_wins=True)
    raw = doc.data if doc.data is not None else {}
    file = doc.validate(CampaignFile, raw)
    return _settings(file, raw, home, path.resolve())


@cache
def cached_settings() -> Settings:
    """Settings for the current process (tasks call this; tests call load_settings)."""
    return load_settings()
