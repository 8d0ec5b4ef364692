"""Every exception the package raises on purpose is under its one root (exceptions.py)."""

from __future__ import annotations

import importlib
import inspect
import pkgutil

import pytest

import pitchey_analysis
from pitchey_analysis import exceptions
from pitchey_analysis.exceptions import PitcheyAnalysisError, UsageError

#: control flow inside one module, never raised out of it (each says so where it is defined)
PRIVATE = {
    "pitchey_analysis.probes.base.Stop": "carries a probe's result to the runner",
    "pitchey_analysis.probes.base.NoFirstFrame": "a failure of the target, classified into a record",
    "pitchey_analysis.probes.readiness.NoAnswer": "the lockout probes record it as a skip",
}


def _modules() -> list[str]:
    return [
        m.name
        for m in pkgutil.walk_packages(pitchey_analysis.__path__, "pitchey_analysis.")
        if m.name.rsplit(".", 1)[-1] != "__main__"
    ]


def outside_the_root(modules: list[str]) -> list[str]:
    """Exception classes defined in ``modules`` that are public and not under the root (pure but for imports)."""
    found = []
    for name in modules:
        module = importlib.import_module(name)
        for cls_name, cls in vars(module).items():
            if not (inspect.isclass(cls) and issubclass(cls, BaseException)) or cls.__module__ != name:
                continue  # not an exception, or imported from elsewhere (judged where it is defined)
            qual = f"{name}.{cls_name}"
            if cls_name.startswith("_") or qual in PRIVATE:
                continue
            if not issubclass(cls, PitcheyAnalysisError):
                found.append(qual)
    return found


def test_every_public_exception_is_under_the_root() -> None:
    assert outside_the_root(_modules()) == []


def test_the_walk_finds_a_stray_exception(monkeypatch: pytest.MonkeyPatch) -> None:
    class Stray(ValueError):
        pass

    Stray.__module__ = "pitchey_analysis.judged"
    monkeypatch.setattr("pitchey_analysis.judged.Stray", Stray, raising=False)
    assert outside_the_root(["pitchey_analysis.judged"]) == ["pitchey_analysis.judged.Stray"]


def test_private_ones_still_exist() -> None:
    # an entry for a class that was renamed or made public would hide nothing, silently
    for qual in PRIVATE:
        module, name = qual.rsplit(".", 1)
        assert inspect.isclass(getattr(importlib.import_module(module), name)), qual


def test_the_tree_in_the_docstring_names_every_class() -> None:
    doc = exceptions.__doc__ or ""
    for name, cls in vars(exceptions).items():
        if inspect.isclass(cls) and issubclass(cls, BaseException) and cls.__module__ == exceptions.__name__:
            assert name in doc, f"{name} missing from the tree in exceptions.py's docstring"


def test_the_client_and_load_names_still_import() -> None:
    from pitchey_analysis import client
    from pitchey_analysis.load.orchestrate import SchedulerUnreachable

    for cls in (
        client.ConnectError,
        client.ConnectionLost,
        client.ForbiddenChannel,
        client.LoginError,
        client.RequestTimeout,
    ):
        assert issubclass(cls, client.PitcheyError) and cls.__module__ == "pitchey_analysis.exceptions"
    assert issubclass(SchedulerUnreachable, UsageError) and issubclass(SchedulerUnreachable, ConnectionError)


def test_usage_errors_are_still_value_errors() -> None:
    # callers that caught the ValueError these used to be keep working
    from pitchey_analysis.judged import targets_with
    from pitchey_analysis.server.profile import make_profile

    with pytest.raises(UsageError, match="unknown target"):
        targets_with({"nope": 1.0})
    with pytest.raises(ValueError, match="unknown profile"):
        make_profile("nope")
