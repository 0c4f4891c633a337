"""The one base of every error Matinale raises, and whether retrying can help.

A wrong brief, template, brand kit, segment definition or supporter file stays wrong on the
next try: such errors fail the task at once, with their message (``retryable`` is False, the
default). Only a transient failure (S3, the network, a database) may pass on the next try:
those errors say ``retryable = True``. :mod:`matinale.airflow.glue` turns this flag into
Airflow's behaviour; nothing else here knows Airflow.
"""

from __future__ import annotations

__all__ = ["MatinaleError", "TransientError", "is_retryable"]


class MatinaleError(Exception):
    """An error of Matinale: its message says what is wrong, where, and what to do.

    ``retryable`` is the class's answer to "may the same task succeed if run again?"; an
    instance may answer otherwise (``StoreError(message, retryable=True)``).
    """

    retryable: bool = False

    def __init__(self, *args: object, retryable: bool | None = None) -> None:
        super().__init__(*args)
        if retryable is not None:
            self.retryable = retryable


class TransientError(MatinaleError):
    """A failure of something outside Matinale that may pass: S3, the network, a database."""

    retryable = True


def is_retryable(error: BaseException) -> bool:
    """Whether running the task again may succeed after ``error``.

    A Matinale error says so itself. Any other error is not ours to judge (a botocore or
    network error that nothing wrapped, a database hiccup, a bug): it is retried as before.
    """
    if isinstance(error, MatinaleError):
        return bool(error.retryable)
    return True
