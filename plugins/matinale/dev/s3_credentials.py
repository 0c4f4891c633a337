"""The local S3 server's identities: the admin access key and secret, generated once and kept
in a 0600 JSON file (never in code), the link service's read-only identity, and the error the
local server raises.

How SeaweedFS scopes an identity (``s3.json``, its ``canDo``): an action alone (``Read``) holds
everywhere; ``Read:<bucket>`` holds in one bucket; an action ending in ``*`` is a prefix of
``<Action>:<bucket>/<key>`` (``Read:<bucket>/links/*``: one prefix). ``Admin`` holds for all.
"""

from __future__ import annotations

import json
import os
import secrets
import stat
import string
from dataclasses import dataclass, field
from pathlib import Path

from matinale.errors import MatinaleError

__all__ = [
    "S3Credentials",
    "S3Identity",
    "S3ServerError",
    "identities_json",
    "link_service_identity",
]

_ACCESS_KEY_ALPHABET = string.ascii_uppercase + string.digits
_SECRET_KEY_ALPHABET = string.ascii_letters + string.digits
_ACCESS_KEY_LENGTH = 20
_SECRET_KEY_LENGTH = 40


class S3ServerError(MatinaleError, RuntimeError):
    """The local S3 server cannot be found, started or reached."""


@dataclass(frozen=True)
class S3Credentials:
    """One S3 identity: an access key id and its secret (kept out of ``repr``)."""

    access_key: str
    secret_key: str = field(repr=False)

    @classmethod
    def generate(cls) -> S3Credentials:
        """Fresh random keys shaped like AWS ones (20 upper alnum chars, 40 alnum chars)."""
        return cls(
            access_key="".join(
                secrets.choice(_ACCESS_KEY_ALPHABET) for _ in range(_ACCESS_KEY_LENGTH)
            ),
            secret_key="".join(
                secrets.choice(_SECRET_KEY_ALPHABET) for _ in range(_SECRET_KEY_LENGTH)
            ),
        )

    @classmethod
    def load_or_create(cls, path: Path) -> S3Credentials:
        """The keys stored in ``path`` (JSON, mode 0600), generated and stored on first use.

        Creation is atomic: two processes racing on a fresh path end up with the same keys.
        """
        path = Path(path)
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            fresh = cls.generate()
            payload = {"access_key": fresh.access_key, "secret_key": fresh.secret_key}
            temporary = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
            _write_private(temporary, json.dumps(payload, indent=1) + "\n")
            try:
                os.link(temporary, path)  # fails if another process created it meanwhile
            except FileExistsError:
                pass
            finally:
                temporary.unlink(missing_ok=True)
        if stat.S_IMODE(path.stat().st_mode) & 0o077:
            path.chmod(0o600)
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
            credentials = cls(access_key=raw["access_key"], secret_key=raw["secret_key"])
        except (ValueError, KeyError, TypeError) as error:
            raise S3ServerError(
                f"{path} is not a valid S3 credentials file ({error}); delete it to generate new keys"
            ) from error
        if not (
            isinstance(credentials.access_key, str) and isinstance(credentials.secret_key, str)
        ):
            raise S3ServerError(f"{path}: access_key and secret_key must be strings")
        if not credentials.access_key or not credentials.secret_key:
            raise S3ServerError(f"{path}: access_key and secret_key must not be empty")
        return credentials


@dataclass(frozen=True)
class S3Identity:
    """One more identity of the local server: its keys and the actions it may take."""

    name: str
    credentials: S3Credentials
    actions: tuple[str, ...]


def link_service_identity(
    credentials: S3Credentials, bundle_bucket: str, state_bucket: str, state_prefix: str
) -> S3Identity:
    """The link service's identity: read and list the bundle bucket (pages, pointers,
    manifests) and its link-state prefix; no write anywhere, nothing of any other bucket
    (the private bucket, with the delivery files, above all)."""
    actions = [f"Read:{bundle_bucket}", f"List:{bundle_bucket}"]
    if state_bucket != bundle_bucket:
        prefix = state_prefix if state_prefix.endswith("/") else f"{state_prefix}/"
        actions += [f"Read:{state_bucket}/{prefix}*", f"List:{state_bucket}"]
    return S3Identity("links", credentials, tuple(actions))


def identities_json(admin: S3Credentials, others: tuple[S3Identity, ...] = ()) -> dict[str, object]:
    """``s3.json``: the admin identity, then ``others``; having any identity makes SeaweedFS
    deny anonymous calls."""

    def entry(name: str, keys: S3Credentials, actions: list[str]) -> dict[str, object]:
        credentials = [{"accessKey": keys.access_key, "secretKey": keys.secret_key}]
        return {"name": name, "credentials": credentials, "actions": actions}

    admin_actions = ["Admin", "Read", "Write", "List", "Tagging"]
    return {
        "identities": [
            entry("matinale", admin, admin_actions),
            *(entry(o.name, o.credentials, list(o.actions)) for o in others),
        ]
    }


def _write_private(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` readable by the owner only (0600), also when it exists."""
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        os.fchmod(handle.fileno(), 0o600)
        handle.write(text)
