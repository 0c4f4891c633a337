"""Publish's side of the link service: the segments' stable tokens, the pages' links through
the service, and the run's link table (codes → destinations, the cells beacons may name).

With a link service (``links.public_base_url``), nothing publish hands out is a presigned
URL: a page links to its cards and pack as ``/p/<token>/<file>``, the overview to each page
as ``/p/<token>``, the delivery file gives each person their segment's ``/p/<token>``, and
the posts' and cards' ``/s/<code>`` links were printed by content and visuals
(:mod:`matinale.links.short`). The table is registered before the run is promoted, so a
link works the moment anyone can see it.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from matinale.links.codes import OVERVIEW
from matinale.links.short import CARD_ANGLE, CARD_CHANNEL
from matinale.publish.s3 import PublishError
from matinale.s3types import S3Client

if TYPE_CHECKING:
    from matinale.links.state import Cell, LinkState

__all__ = ["LinkService", "ServiceLinks", "run_table", "service_owns"]

Linker = Callable[[str], str]


@dataclass(frozen=True)
class LinkService:
    """Where the link service answers and where its state lives."""

    base: str
    state_bucket: str
    state_prefix: str = "links/"
    counts_retention_days: int = 400

    def compliance(self) -> dict[str, Any]:
        """compliance.json's ``link_counts``: the legal basis and retention of the counts."""
        return {
            "legal_basis": (
                "strictly aggregated audience measurement (CNIL guidance on audience "
                "measurement: no consent needed when nothing identifies a person)"
            ),
            "retention_days": self.counts_retention_days,
            "stored": (
                "counts per Paris hour, edition, segment, theme, channel, angle and event; "
                "no IP address, user agent, referrer, cookie or identifier"
            ),
        }

    def state(self, client: S3Client) -> LinkState:
        from matinale.links.state import LinkState  # links.state reads pointers with publish.s3

        return LinkState(client, self.state_bucket, self.state_prefix)


class ServiceLinks:
    """The stable links of one publish: segment → token, and the pages' linker."""

    def __init__(self, service: LinkService, tokens: Mapping[str, str]) -> None:
        self.base = service.base
        self.tokens = dict(tokens)

    @classmethod
    def ensure(
        cls, service: LinkService, client: S3Client, segments: Sequence[str]
    ) -> ServiceLinks:
        """Tokens for every segment and the overview (new ones written to the link state)."""
        return cls(service, service.state(client).ensure_tokens([*segments, OVERVIEW]))

    def page(self, segment: str) -> str:
        """The stable ``/p/`` link of a segment's page (or of the overview)."""
        return f"{self.base}/p/{self.tokens[segment]}"

    def file(self, path: str) -> str:
        """The service's link to a bundle file: a segment's own files through its token,
        the overview's and the run's other files through the overview's."""
        head, _, rest = path.partition("/")
        if rest and head in self.tokens and head != OVERVIEW:
            return self.page(head) if rest == "index.html" else f"{self.page(head)}/{rest}"
        return self.page(OVERVIEW) if path == "index.html" else f"{self.page(OVERVIEW)}/{path}"

    def linker(self, _page_dir: str) -> Linker:
        """``render_pages``' linker: absolute service links, the same from every folder."""
        return self.file

    def owns(self, url: str) -> bool:
        """Whether ``url`` is one of the service's links (``/p/``, ``/s/``)."""
        return service_owns(self.base)(url)


def service_owns(base: str) -> Callable[[str], bool]:
    """The bundle checks' ``own_link`` for a link service at ``base``: its ``/p/`` and
    ``/s/`` links, its origin and beacon endpoint are the bundle's own (``http://127.0.0.1``
    too, for ``make up``)."""
    if not base:
        return lambda url: False
    prefixes = (f"{base}/p/", f"{base}/s/")
    exact = {base, f"{base}/e"}  # the pages' beacon origin (CSP) and endpoint
    return lambda url: url in exact or url.startswith(prefixes)


def _short_code(link: str, base: str) -> str | None:
    prefix = f"{base}/s/"
    return link[len(prefix) :] if link.startswith(prefix) else None


def run_table(
    files: Mapping[str, bytes], segments: Sequence[str], base: str
) -> tuple[dict[str, dict[str, str]], set[Cell]]:
    """The run's link table from its posts.json and cards.json files: every short link
    printed (code → destination and cell) and every post's cell (the page's beacons).

    A code printed twice must name the same destination and cell (it is one link)."""
    links: dict[str, dict[str, str]] = {}
    cells: set[Cell] = set()

    def add(link: str, destination: str, cell: Cell, where: str) -> None:
        code = _short_code(link, base)
        if code is None:
            return
        entry = dict(zip(("segment", "theme", "channel", "angle"), cell, strict=True))
        entry["destination"] = destination
        if links.setdefault(code, entry) != entry:
            raise PublishError(
                f"{where}: short link {link} names two destinations or cells; rebuild the run"
            )

    for segment in segments:
        posts_file = files.get(f"{segment}/posts.json")
        if posts_file is not None:
            data: dict[str, Any] = json.loads(posts_file)
            for post in data.get("posts", []):
                angle = str(post.get("angle") or data.get("angle") or "")
                cell: Cell = (segment, str(post["theme"]), str(post["channel"]), angle)
                cells.add(cell)
                add(
                    str(post.get("link", "")),
                    str(post.get("destination", "")),
                    cell,
                    f"{segment}/posts.json",
                )
        cards_file = files.get(f"{segment}/cards.json")
        if cards_file is not None:
            for card in json.loads(cards_file).get("cards", []):
                cell = (segment, str(card["theme"]), CARD_CHANNEL, CARD_ANGLE)
                add(
                    str(card.get("link", "")),
                    str(card.get("destination", "")),
                    cell,
                    f"{segment}/cards.json",
                )
    return links, cells
