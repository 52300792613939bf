"""The words of the domain a reader sees in their language: roles, subject kinds and
categories, operation and raid statuses.

What is *typed* stays English (`op invite --role analyst`, `--category suspect`, `raid go`):
it is the grammar of the commands. What is *shown* goes through `term`, so a Spanish reader
sees "persona, sospechoso" and "Tu rol: analista" where an English one sees "person,
suspect" and "Your role: analyst". The translations follow docs/glossary.md.
"""

from __future__ import annotations

from bot.base.i18n import N_, _

#: Every word `term` translates; anything else (a user's text) is shown as it is.
TERMS = frozenset(
    {
        # roles in an operation
        N_("lead"),
        N_("member"),
        N_("analyst"),
        N_("partner"),
        N_("observer"),
        N_("admin"),
        # subject kinds
        N_("person"),
        N_("vehicle"),
        N_("vessel"),
        N_("organisation"),
        N_("place"),
        N_("asset"),
        # person categories
        N_("suspect"),
        N_("victim"),
        N_("witness"),
        N_("associate"),
        # operation statuses
        N_("planning"),
        N_("active"),
        N_("suspended"),
        N_("closed"),
        # raid statuses
        N_("planned"),
        N_("go"),
        N_("aborted"),
        N_("done"),
    }
)


def term(word: str | None) -> str:
    """`word` in the reader's language when it is one of `TERMS`, else as it is."""
    if not word:
        return word or ""
    return _(word) if word in TERMS else word


def kind_text(kind: str, category: str | None) -> str:
    """`person, suspect` in the reader's language (`persona, sospechoso`)."""
    return f"{term(kind)}, {term(category)}" if category else term(kind)
