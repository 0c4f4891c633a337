"""Which pieces of framing.yaml make each variant: angles, openers, calls to action, hashtags.

Only pieces that fit the theme, the segment's band and the form of address are combined
(issue 23); the segment's own angle leads, the other eligible angles follow.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from itertools import product
from typing import TYPE_CHECKING, Any

from matinale.content.brief import LineOfDay, Theme
from matinale.content.errors import ContentError
from matinale.content.render import _opener_template, _render
from matinale.content.rules import Piece, _Angle, _Choice, _rotate_hashtags, eligible_angles

if TYPE_CHECKING:
    from matinale.content.posts import PostWriter
    from matinale.segment import Segment

__all__: list[str] = []


class _Choosing:
    """The choice of ingredients, mixed into the segment maker."""

    w: PostWriter
    segment: Segment
    segment_id: str
    angle: _Angle
    band: str | None
    staff_line: LineOfDay | None
    opener_context: dict[str, Any]
    _openers: dict[str, str]

    # -- ordering and choices

    def theme_order(self) -> list[Theme]:
        """The local theme first for a territorial pack, else the segment's interests first."""
        hint = self.segment.theme
        interests = self.segment.top_interests

        def rank(item: tuple[int, Theme]) -> tuple[int, int]:
            index, theme = item
            if hint and theme.id == hint:
                return (0, index)
            if theme.id in interests:
                return (1, interests.index(theme.id))
            return (2, index)

        return [theme for _, theme in sorted(enumerate(self.w.brief.themes), key=rank)]

    def opener_text(self, piece: Piece) -> str:
        """An opener of framing.yaml rendered for this segment (place, interest), once."""
        text = self._openers.get(piece.id)
        if text is None:
            rendered = _render(_opener_template(piece.text), self.opener_context)
            text = self._openers[piece.id] = " ".join(rendered.split())
        return text

    def address(self, channel: str) -> str:
        """The form of address of this channel's posts: the brief's; vous in direct messages."""
        return "vous" if self.w.registry[channel].direct else self.w.brief.address

    def angles(
        self, theme: Theme, address: str, rng: random.Random, lead: str | None = None
    ) -> list[_Angle]:
        """The angles of this theme's variants: the segment's own first, then the others
        eligible for its band and the theme, in the seed's order. ``lead`` (the learned
        leading angle of a direct message) goes first when it is eligible."""
        rules = self.w.rules
        key = ("angles", theme.id, self.band, address)
        names = self.w.memo.get(key)
        if names is None:
            names = self.w.memo[key] = tuple(eligible_angles(rules, theme.id, self.band, address))
        eligible = [rules.angles[name] for name in names if name != self.angle.id]
        rng.shuffle(eligible)
        if self.angle.eligible(theme.id, self.band, address):
            if self.segment.kind == "territory":
                return [self.angle]  # a pack's posts are all about its place
            eligible.insert(0, self.angle)
        led = next((a for a in eligible if a.id == lead), None)
        if led is not None:
            eligible.remove(led)
            eligible.insert(0, led)
        if not eligible:
            raise ContentError(
                f"segment {self.segment_id}, theme {theme.id}: no angle of content_templates/framing.yaml "
                f"has an opener and a call to action for band {self.band} and address {address}; "
                "add untagged pieces or tag some for this band and theme"
            )
        return eligible

    def _fitting(self, angle: _Angle, theme: Theme, address: str) -> tuple[tuple[Piece, ...], ...]:
        """The angle's openers, calls to action, their intros and hashtag sets that fit the
        theme, this band and ``address``, in framing.yaml's order (once a night)."""
        key = ("pieces", angle.id, theme.id, self.band, address)
        found = self.w.memo.get(key)
        if found is None:
            found = self.w.memo[key] = tuple(
                tuple(p for p in pieces if p.fits(theme.id, self.band, address))
                for pieces in (angle.openers, angle.ctas, angle.cta_intros, angle.hashtag_sets)
            )
        return found

    def choices(self, theme: Theme, channel: str) -> Iterator[_Choice]:
        """Candidate ingredient sets, most different first, in an order fixed by the seed.

        Only pieces that fit the theme, the segment's band and the channel's form of address
        are combined; variant k takes the k-th eligible angle (the segment's own first)."""
        # A str seed is hashed with SHA-512, not hash(): the same order in every process and
        # every run, whatever PYTHONHASHSEED; another edition or segment gets another order.
        rng = random.Random(f"{self.segment_id}|{self.w.edition.isoformat()}|{theme.id}|{channel}")
        address = self.address(channel)
        # What the night learnt works best leads: a direct message is sent once, and a page
        # can only start on an angle one of its variants makes.
        lead = self.w.lead(self.segment_id, theme.id)
        lists: list[tuple[str, list[list[Piece]]]] = []
        for angle in self.angles(theme, address, rng, lead):
            dims = []
            for fitting in map(list, self._fitting(angle, theme, address)):
                rng.shuffle(fitting)
                dims.append(fitting or [Piece(f"{angle.id}-none", "")])
            lists.append((angle.id, dims))

        def choice(k: int, angle: str, o: Piece, c: Piece, i: Piece, h: Piece) -> _Choice:
            tags = _rotate_hashtags(theme.hashtags, h.tags, k)
            return _Choice(self.opener_text(o), c.text, i.text, tags, angle, o.id)

        line = self.staff_line
        if line is not None and line.theme in ("", theme.id):
            if line.theme or theme.id == self.theme_order()[0].id:
                # The staff's line of the day opens variant 1 of its theme, in its angle
                # (none named: the learned lead of a direct message, else the segment's).
                angle_id = line.angle or lead or self.angle.id
                dims = next((d for a, d in lists if a == angle_id), lists[0][1])
                yield _Choice(
                    line.text,
                    dims[1][0].text,
                    dims[2][0].text,
                    _rotate_hashtags(theme.hashtags, dims[3][0].tags, 0),
                    angle_id,
                    "line-of-day",
                )
        rounds = max(len(d) for _, dims in lists for d in dims)
        k = 0
        for r in range(rounds):
            for angle_id, (openers, ctas, intros, sets) in lists:
                yield choice(
                    k,
                    angle_id,
                    openers[r % len(openers)],
                    ctas[r % len(ctas)],
                    intros[(r + k) % len(intros)],
                    sets[r % len(sets)],
                )
                k += 1
        # Only when those ran short (too similar): other combinations, a bounded few.
        rest = [(angle_id, combo) for angle_id, dims in lists for combo in product(*dims)]
        rng.shuffle(rest)
        for angle_id, (o, c, i, h) in rest[: 2 * self.w.variants]:
            yield choice(k, angle_id, o, c, i, h)
            k += 1
