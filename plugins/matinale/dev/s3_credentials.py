"""The local S3 server's identity: one access key and secret, generated once and kept in a
0600 JSON file (never in code), and the error the local server raises.
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

__all__ = ["S3Credentials", "S3ServerError"]

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


def _write_private(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` readable by the owner only (0600), also when it exists."""
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        os.fchmod(handle.fileno(), 0o600)
        handle.write(text)
