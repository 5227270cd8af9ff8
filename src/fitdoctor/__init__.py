"""fitdoctor: a diagnostic linter for PyTorch training setups.

Use it from the command line (``fitdoctor check train.py``) or from Python::

    report = fitdoctor.check(model, (x, y), loss="mse", optimizer=opt)
    with fitdoctor.watch() as watched:
        train()
    watched.report
"""

from typing import TYPE_CHECKING, Any

from fitdoctor._version import __version__

__all__ = ["FitdoctorError", "Report", "UsageError", "__version__", "check", "watch"]

if TYPE_CHECKING:
    from fitdoctor.api import check, watch
    from fitdoctor.errors import FitdoctorError, UsageError
    from fitdoctor.report.display import Report


def __getattr__(name: str) -> Any:
    # Lazy: `fitdoctor --help` and the child process don't pay for importing torch through the API.
    if name in ("check", "watch"):
        from fitdoctor import api

        return getattr(api, name)
    if name in ("FitdoctorError", "UsageError"):
        from fitdoctor import errors

        return getattr(errors, name)
    if name == "Report":
        from fitdoctor.report.display import Report

        return Report
    raise AttributeError(f"module 'fitdoctor' has no attribute {name!r}")
