"""Errors a user can cause: the CLI prints their message and exits non-zero, no traceback."""


class UserError(Exception):
    """A failure with a message meant for the person at the keyboard."""


class DataUnavailableError(UserError):
    """A dataset's files are missing (e.g. its Debian package is not installed)."""
