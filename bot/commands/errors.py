"""Errors a command raises: each carries one clear sentence for the user."""

from __future__ import annotations


class CommandError(Exception):
    """A refusal: `sentence` is shown to the user (subclasses say whether with the usage)."""

    show_usage = False

    def __init__(self, sentence: str) -> None:
        super().__init__(sentence)
        self.sentence = sentence


class UsageError(CommandError):
    """The command line does not fit the command's grammar: the usage line is shown too."""

    show_usage = True


class Denied(CommandError):
    """The actor's role does not allow this."""


class NotFound(CommandError):
    """Nothing by that name or reference (or nothing the actor may know of)."""
