"""Moving the two pointers as one step, as far as S3 allows, and finding them split.

``latest.json`` and ``editions/<date>/current.json`` are two objects: S3 cannot write both
at once. A failure after the first write and before the second would leave readers and
staff on different runs, so :func:`move_pointers` undoes what it wrote (each pointer back to
its previous content) and, when S3 refuses that too, raises a :class:`PointerMoveError`
that says exactly where each pointer stands. A retry of the same run, or the next run,
writes both again. :func:`pointer_splits` finds a split left behind (``matinale editions``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from matinale.publish.s3 import PublishError, _put_json, _s3_failure, read_pointer
from matinale.s3types import S3Client

__all__ = ["PointerMoveError", "Split", "move_pointers", "pointer_splits"]

LATEST = "latest.json"


class PointerMoveError(PublishError):
    """The pointers could not all be moved; the message says where each one stands.

    ``unpromoted`` is True when no pointer names the run for sure (nothing was written, or
    every write was undone): its objects may then be removed. As transient as its cause.
    """

    def __init__(self, message: str, *, unpromoted: bool) -> None:
        super().__init__(message)
        self.unpromoted = unpromoted


def _names(pointer: Mapping[str, Any] | None) -> str:
    if not pointer:
        return "nothing (it did not exist)"
    return f"run {pointer.get('run')} of {pointer.get('edition')}"


def _undo(client: S3Client, bucket: str, key: str, previous: Mapping[str, Any] | None) -> bool:
    """Put a pointer back as it was (delete it if it did not exist); False if S3 refused."""
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        if previous is None:
            client.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": key}], "Quiet": True})
        else:
            _put_json(client, bucket, key, previous)
    except (BotoCoreError, ClientError):
        return False
    return True


def move_pointers(
    client: S3Client,
    bucket: str,
    pointer: Mapping[str, Any],
    moves: Sequence[tuple[str, Mapping[str, Any] | None]],
) -> None:
    """Write ``pointer`` to each key of ``moves`` (``(key, its previous content)``), in order.

    On an S3 failure, every key written (and the one whose write failed, unless S3 could not
    even be reached, so nothing was sent) is put back; then a :class:`PointerMoveError` says
    either that the pointers still name the previous run, or which pointer names what.
    """
    from botocore.exceptions import BotoCoreError, ClientError, EndpointConnectionError

    written: list[tuple[str, Mapping[str, Any] | None]] = []
    for index, (key, previous) in enumerate(moves):
        try:
            _put_json(client, bucket, key, pointer)
        except (BotoCoreError, ClientError) as exc:
            failure = _s3_failure(client, bucket, f"writing {key} in", exc)
            # Connection refused on every try: the request never reached the server.
            sent = not isinstance(exc, EndpointConnectionError)
            raise _stopped(
                client, bucket, pointer, written, (key, previous, sent), moves[index + 1 :], failure
            ) from exc
        written.append((key, previous))


def _stopped(
    client: S3Client,
    bucket: str,
    pointer: Mapping[str, Any],
    written: Sequence[tuple[str, Mapping[str, Any] | None]],
    failed: tuple[str, Mapping[str, Any] | None, bool],
    untouched: Sequence[tuple[str, Mapping[str, Any] | None]],
    failure: Exception,
) -> PointerMoveError:
    """Put back what a stopped move wrote; the error saying where each pointer stands."""
    run = f"run {pointer['run']} of {pointer['edition']}"
    key, previous, sent = failed
    stands: list[str] = []
    put_back: list[str] = []
    split = False
    for k, p in written:
        if _undo(client, bucket, k, p):
            put_back.append(k)
            stands.append(f"{k} names {_names(p)} again (put back)")
        else:
            split = True
            stands.append(f"{k} names {run} (moved; putting it back failed)")
    if not sent:
        stands.append(f"{key} still names {_names(previous)} (not written: S3 was unreachable)")
    elif _undo(client, bucket, key, previous):
        put_back.append(key)
        stands.append(f"{key} names {_names(previous)} (put back)")
    else:
        split = True
        stands.append(
            f"{key}: its write was not confirmed (it names {_names(previous)}, or {run} if S3 stored it)"
        )
    stands += [f"{k} still names {_names(p)} (not moved)" for k, p in untouched]
    if not split:
        back = f" ({', '.join(put_back)} put back)" if put_back else ""
        return PointerMoveError(
            f"{failure}. {run[0].upper()}{run[1:]} was not promoted: the pointers still name the previous run"
            f"{back}; rerun to publish",
            unpromoted=True,
        )
    return PointerMoveError(
        f"{failure}. The pointers may be split: {'; '.join(stands)}. `matinale editions` flags a split; "
        f"a retry of {run} completes the move, and so does the next run",
        unpromoted=False,
    )


def _at(pointer: Mapping[str, Any]) -> datetime | None:
    try:
        return datetime.fromisoformat(str(pointer.get("promoted_at")))
    except ValueError:
        return None


@dataclass(frozen=True)
class Split:
    """latest.json and a date's current.json that disagree: why, and the runs they name."""

    message: str
    runs: frozenset[tuple[str, str]]


def pointer_splits(
    client: S3Client, bucket: str, currents: Mapping[str, Mapping[str, Any]]
) -> list[Split]:
    """Each split of the pointers: ``latest.json`` and a ``current.json`` that disagree.

    ``currents``: each date's ``current.json``. A promotion writes the same pointer (same
    ``promoted_at``) to both, latest.json last; it leaves latest.json alone only for a
    publish of an edition older than the one latest.json names. So a current.json written
    after latest.json, for a date not older than latest.json's (or by a rollback), means a
    promotion stopped between the two writes.
    """
    latest = read_pointer(client, bucket, LATEST)
    if latest is None:
        return [
            Split(
                f"latest.json is missing while editions/{day}/current.json names run {c.get('run')}",
                frozenset({(day, str(c.get("run")))}),
            )
            for day, c in sorted(currents.items())
        ]
    day, run = str(latest.get("edition")), str(latest.get("run"))
    splits = []
    same = currents.get(day)
    if same is None:
        splits.append(
            Split(
                f"latest.json names {day}/{run} but editions/{day}/current.json is missing",
                frozenset({(day, run)}),
            )
        )
    elif same.get("run") != run:
        splits.append(
            Split(
                f"latest.json names {day}/{run} but editions/{day}/current.json names run {same.get('run')}",
                frozenset({(day, run), (day, str(same.get("run")))}),
            )
        )
    moved_at = _at(latest)
    for other, current in sorted(currents.items()):
        at = _at(current)
        if other == day or moved_at is None or at is None or at <= moved_at:
            continue
        if other > day or current.get("event") == "rollback":
            splits.append(
                Split(
                    f"editions/{other}/current.json names run {current.get('run')} (moved "
                    f"{current.get('promoted_at')}) but latest.json still names {day}/{run}",
                    frozenset({(day, run), (other, str(current.get("run")))}),
                )
            )
    return splits
