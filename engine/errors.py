"""User-facing errors.

Every error an analyst can cause (a bad file, a wrong option, a full disk) is raised as a
:class:`DakdError` whose message is one line that names the file or option and says what to do.
The CLI prints that line and exits non-zero; the QGIS plugin turns it into a
``QgsProcessingException`` or a message-bar text. Anything else escaping is a bug.
"""

from engine.contract import EXIT_BAD_INPUT, EXIT_CANCELLED


class DakdError(Exception):
    """An error caused by input, options or environment, with a one-line message for the user."""

    exit_code = EXIT_BAD_INPUT


class InputError(DakdError):
    """The input file cannot be used (missing, not a raster, corrupt, wrong units...)."""


class OutputError(DakdError):
    """The output location cannot be written (exists without --overwrite, read-only, disk full)."""


class ModelError(DakdError):
    """A model file or card is missing, invalid or does not fit the input."""


class Cancelled(DakdError):
    """The user cancelled the run (Ctrl-C, SIGTERM, Cancel button); nothing was left behind."""

    exit_code = EXIT_CANCELLED

    def __init__(self, message: str = "cancelled by the user; no output was written") -> None:
        super().__init__(message)
