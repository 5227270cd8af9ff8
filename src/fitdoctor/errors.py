"""Error types that the CLI turns into a one-paragraph message and exit code 2."""

from __future__ import annotations


class FitdoctorError(Exception):
    """A problem fitdoctor reports to the user as a message, never as a traceback.

    Attributes:
        exit_code: The process exit code the CLI uses for this error (2).
    """

    exit_code = 2


class UsageError(FitdoctorError):
    """Bad input: a missing script, a wrong option, an invalid configuration."""


class CaptureError(FitdoctorError):
    """The user's script could not be captured (it crashed, hung or never trained)."""


class Interrupted(FitdoctorError):
    """``fitdoctor check`` received SIGTERM or SIGHUP: the script was stopped with its whole process group."""
