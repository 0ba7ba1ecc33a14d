"""The project's one exception family."""

from __future__ import annotations


class SpacesLabError(Exception):
    """An error the project raises on purpose, with a message meant for a person."""


class CliError(SpacesLabError):
    """A user error at the command line: printed as one line naming the bad field, exit
    status 2, nothing changed."""


class Refused(SpacesLabError):
    """A request refused with an HTTP status (4xx) and a one-line reason.

    The server raises it (its middleware answers ``{"error": reason}`` with the status), and
    the API client raises it when the server answered so.
    """

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(f"{status}: {reason}")
        self.status = status
        self.reason = reason
