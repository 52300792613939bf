"""Errors a command raises: each carries one clear sentence for the user."""

from __future__ import annotations


class CommandError(Exception):
    """A refusal or bad input: `sentence` is shown to the user, with the usage line."""

    show_usage = True

    def __init__(self, sentence: str) -> None:
        super().__init__(sentence)
        self.sentence = sentence


class UsageError(CommandError):
    """The command line does not fit the command's grammar."""


class Denied(CommandError):
    """The actor's role does not allow this."""

    show_usage = False


class NotFound(CommandError):
    """Nothing by that name or reference (or nothing the actor may know of)."""

    show_usage = False
