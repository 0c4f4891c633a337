"""campaign.yaml as validated: the pydantic model of the file, section by section.

:mod:`matinale.settings` reads the file with :func:`matinale.yamlfile.load_yaml`, validates
it with :class:`CampaignFile` and builds the frozen objects the rest of the code reads; the
JSON Schema editors use is generated from this model (``python -m matinale.schemas``).
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from pydantic import ConfigDict, Field, ValidationInfo, field_validator

from matinale.schemas.fields import Clock, Day, Required, Section, Zone
from matinale.yamlfile import Fix

__all__ = ["CampaignFile"]


def _channel_enum(schema: dict[str, Any]) -> None:
    """Editors offer the project's channels (content_templates/channels.yaml)."""
    from matinale.content.channels import channel_ids

    schema["items"] = {"enum": list(channel_ids())}


class CampaignSection(Section):
    """Who the campaign is."""

    name: Required
    candidate: Required
    slug: Required
    website: Required
    proper_nouns: list[str] = Field(
        default=[],
        description="words that keep their capital after a colon in posts (names, places)",
    )


class SenderSection(Section):
    """Who sends direct messages (SMS, e-mail): shown in every one of them."""

    name: Required
    email: Required
    sms_sender_id: str = ""


class LegalSection(Section):
    """Mandatory mentions carried by direct messages and printed on every card."""

    mention: Required
    print_mention: str = Field(
        default="",
        description="Printed on paper only (card layouts with print: true), e.g. "
        "'Ne pas jeter sur la voie publique.'; never on a screen",
    )
    why_you_receive: Required
    how_to_object: Required
    unsubscribe_url: Required
    sms_stop: Required
    controller: str = ""
    dpo_email: str = ""

    @field_validator("mention")
    @classmethod
    def _no_print_only_words(cls, value: str) -> str:
        if "voie publique" in value.casefold():
            raise Fix(
                "says 'ne pas jeter sur la voie publique', which is for paper: e-mails, SMS "
                "and digital cards carry legal.mention",
                "move that sentence to legal.print_mention (print formats only)",
            )
        return value


class ClocksSection(Section):
    """The two clocks and the night's wall-clock times, in campaign_timezone."""

    model_config = ConfigDict(validate_default=True)  # the checks below also see the defaults

    campaign_timezone: Zone = ZoneInfo("Europe/Paris")
    team_timezone: Zone = ZoneInfo("America/Montreal")
    nightly_start: Clock = Field(default=time(1, 0), description="The DAG's schedule")
    brief_cutoff: Clock = Field(default=time(1, 30), description="The brief must be in by then")
    publish_deadline: Clock = Field(
        default=time(6, 30), description="Alert if not published by then"
    )
    approval_closes: Clock = Field(
        default=time(12, 0), description="Only with MATINALE_APPROVAL=on"
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
    published_editions_days: int | None = Field(
        default=400,
        ge=1,
        description="Published editions older than this many days leave the bundle bucket "
        "(the one latest.json names stays); null keeps them all",
    )


class LinksSection(Section):
    allowed_domains: list[str] = []
    presign_expiry_hours: int = Field(
        default=48, ge=1, le=168, description="1 to 168: S3 presigned links last 7 days at most"
    )
    public_base_url: str = Field(
        default="",
        pattern=r"^(https?://[A-Za-z0-9.-]+(:[0-9]+)?/?)?$",
        description="Where the link service answers (https://liens.example.org): /p/ and /s/ links start with it",
    )
    state_bucket: str = Field(
        default="",
        description="Bucket of the link state (tokens, link tables); default: the bundle bucket",
    )
    state_prefix: str = Field(
        default="links/", pattern=r"^([a-z0-9][a-z0-9._-]*/)+$", description="e.g. links/"
    )
    counts_retention_days: int = Field(
        default=400, ge=1, description="Counts of editions older than this are deleted"
    )
    page_link_minutes: int = Field(
        default=10, ge=1, le=60, description="Life of the presigned page URL /p/ redirects to"
    )


class PrivacySection(Section):
    pii_allowlist: list[str] = []
    max_quarantine_share: float = Field(default=0.20, ge=0, le=1, description="From 0 to 1")
    min_segment_size: int = Field(default=50, ge=0)


class LearnSection(Section):
    """What the night learns from the link counts (see matinale.learn)."""

    editions: int = Field(
        default=14, ge=1, le=400, description="How many recent editions' counts are read"
    )
    exploration_floor: float = Field(
        default=0.05, ge=0, lt=1, description="Share of each segment's variants spread evenly"
    )
    min_exposures: int | None = Field(
        default=None,
        ge=1,
        description="Cells with fewer exposures teach nothing (default: privacy.min_segment_size)",
    )
    pooling: float = Field(
        default=100.0,
        ge=0,
        description="At most this many pseudo-exposures lent by an age band to a thin segment",
    )


class DeliverySection(Section):
    """Direct messages (SMS, e-mail) the campaign sends from the delivery file."""

    send_time: str = Field(
        default="07:30",
        pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$",
        description="Paris time (HH:MM) of send_at when the night has learnt no better hour",
    )
    max_messages_per_week: int = Field(
        default=3,
        ge=0,
        description="At most this many direct messages per person in any 7 days (rolling)",
    )


class ContentSection(Section):
    channels: list[str] = Field(
        default_factory=list,
        description="Channels of content_templates/channels.yaml the campaign uses (default: all)",
        json_schema_extra=_channel_enum,
    )
    variants: int = Field(default=3, ge=1)
    max_close_share: float = Field(
        default=0.05,
        ge=0,
        le=1,
        description="The night fails when more social posts than this share read like "
        "another age band's (Jaccard of 5-character shingles over 0.7): give each band its "
        "own claim and arguments in the brief",
    )


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
    learn: LearnSection = LearnSection()
    delivery: DeliverySection = DeliverySection()
    content: ContentSection = ContentSection()
    storage: StorageSection = StorageSection()
    limits: dict[str, int] | None = Field(
        None, description="Bytes per bundle file kind (see matinale.checks.DEFAULT_LIMITS)"
    )
