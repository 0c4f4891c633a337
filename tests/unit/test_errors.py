"""One base for every error of the library, and which of them retrying can fix."""

from __future__ import annotations

import importlib
import inspect
import pickle
import pkgutil

import pytest

import matinale
from matinale.errors import MatinaleError, TransientError, is_retryable

# Not errors of the library: ``Fix`` is a validator's signal pydantic turns into a finding
# (it must stay a plain ValueError and never leaves yamlfile).
NOT_ERRORS = {"matinale.yamlfile.Fix"}


def _modules() -> list[str]:
    return [
        info.name
        for info in pkgutil.walk_packages(matinale.__path__, "matinale.")
        if not info.name.endswith("__main__")
    ]


def _exception_classes() -> dict[str, type[BaseException]]:
    found: dict[str, type[BaseException]] = {}
    for name in _modules():
        module = importlib.import_module(name)
        for _, value in inspect.getmembers(module, inspect.isclass):
            if (
                issubclass(value, BaseException)
                and value.__module__ == name
                and not value.__name__.startswith("_")
            ):
                found[f"{name}.{value.__qualname__}"] = value
    return found


def test_every_error_of_the_library_is_a_matinale_error() -> None:
    classes = _exception_classes()
    assert "matinale.content.errors.BriefError" in classes, "the walk missed the packages"
    strays = sorted(
        name
        for name, cls in classes.items()
        if not issubclass(cls, MatinaleError) and name not in NOT_ERRORS
    )
    assert strays == [], f"derive these from matinale.errors.MatinaleError: {strays}"


def test_existing_bases_are_kept() -> None:
    from matinale.checks import ChecksFailed
    from matinale.content import BriefError, ContentError, RulesError
    from matinale.ingest import IngestError
    from matinale.segment import SegmentationError
    from matinale.settings import SettingsError
    from matinale.store import StoreError
    from matinale.visuals import CardError
    from matinale.yamlfile import ConfigError

    for cls in (BriefError, RulesError, IngestError, SegmentationError, ConfigError, SettingsError):
        assert issubclass(cls, ValueError) and issubclass(cls, MatinaleError), cls
    for cls in (ContentError, CardError, ChecksFailed, StoreError):
        assert issubclass(cls, RuntimeError) and issubclass(cls, MatinaleError), cls


def _retryable(name: str) -> bool:
    module, _, cls = name.rpartition(".")
    return bool(getattr(importlib.import_module(module), cls).retryable)


@pytest.mark.parametrize(
    "name",
    [
        "matinale.content.BriefError",
        "matinale.content.RulesError",
        "matinale.content.FitError",
        "matinale.visuals.BrandError",
        "matinale.visuals.TextFitError",
        "matinale.segment.SegmentDefinitionError",
        "matinale.ingest.IngestError",
        "matinale.checks.ChecksFailed",
        "matinale.yamlfile.ConfigError",
        "matinale.settings.SettingsError",
        "matinale.store.StoreError",
        "matinale.status.StatusError",
        "matinale.night.NightError",
    ],
)
def test_data_and_configuration_errors_are_not_retryable(name: str) -> None:
    assert _retryable(name) is False


def test_transient_errors_are_retryable() -> None:
    from botocore.exceptions import EndpointConnectionError

    from matinale.publish import PublishError, S3AccessError
    from matinale.store import StoreError

    assert TransientError.retryable and S3AccessError("endpoint down").retryable
    assert StoreError("S3 did not answer", retryable=True).retryable
    assert not PublishError("the bundle does not match its manifest").retryable
    try:  # publish wraps an S3 failure: as transient as that failure
        raise PublishError("not promoted") from EndpointConnectionError(endpoint_url="http://x")
    except PublishError as wrapped:
        assert wrapped.retryable
    assert not PublishError("not promoted", retryable=False).retryable
    assert is_retryable(ConnectionResetError()), "not ours: retried as before"
    assert not is_retryable(MatinaleError("wrong"))


def test_retryable_survives_a_worker_process() -> None:
    """Errors come back from pool workers pickled: the instance's choice comes back too."""
    from matinale.store import StoreError

    back = pickle.loads(pickle.dumps(StoreError("S3 did not answer", retryable=True)))
    assert back.retryable and str(back) == "S3 did not answer"
    assert not pickle.loads(pickle.dumps(StoreError("missing"))).retryable
