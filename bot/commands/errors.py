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
    """Nothing by that name or reference (or nothing the actor may know of).

    `denied` is set when the thing exists but the actor may not know of it: the answer is
    the same, and the attempt is recorded as a denied access for the leads.
    """

    def __init__(
        self, sentence: str, *, denied: bool = False, operation_id: int | None = None
    ) -> None:
        super().__init__(sentence)
        self.denied = denied
        self.operation_id = operation_id
