"""References: `S-3` subject, `N-2` notice, `SG-15` sighting, `R-1` raid, `T-4` task,
`OP-X/SG-15`."""

from __future__ import annotations

import re
from dataclasses import dataclass

from bot.base.i18n import N_, _
from bot.commands.errors import UsageError

KINDS = {
    "S": N_("subject"),
    "N": N_("notice"),
    "SG": N_("sighting"),
    "R": N_("raid"),
    "T": N_("task"),
}
_REF = re.compile(
    r"^(?:(OP-[A-Z0-9][A-Z0-9-]*)/)?(SG|S|N|R|T)-([0-9]{1,9})$", re.IGNORECASE | re.ASCII
)
_OP = re.compile(r"^OP-[A-Z0-9][A-Z0-9-]*$", re.IGNORECASE | re.ASCII)


@dataclass(frozen=True)
class Ref:
    """A parsed reference; `op_code` only when given as `OP-X/…`."""

    prefix: str
    seq: int
    op_code: str | None = None

    @property
    def kind(self) -> str:
        """subject, notice, sighting or raid."""
        return KINDS[self.prefix]

    def __str__(self) -> str:
        return f"{self.prefix}-{self.seq}"


def is_op_code(token: str) -> bool:
    """Whether `token` looks like an operation code (`OP-NIGHTJAR`)."""
    return bool(_OP.match(token))


def looks_like_ref(token: str) -> bool:
    """Whether `token` looks like a reference of any kind."""
    return bool(_REF.match(token))


def parse_ref(token: str, expect: str | None = None) -> Ref:
    """Parse `S-3` or `OP-X/S-3`; with `expect` ('S', 'SG'…) require that kind."""
    m = _REF.match(token.strip())
    if not m:
        if expect is None:
            raise UsageError(
                _("'{value}' is not a reference like S-3, N-2, SG-15 or R-1.").format(value=token)
            )
        raise UsageError(
            _("'{value}' is not a reference {form}.").format(value=token, form=f"{expect}-n")
        )
    ref = Ref(
        prefix=m.group(2).upper(),
        seq=int(m.group(3)),
        op_code=m.group(1).upper() if m.group(1) else None,
    )
    if expect and ref.prefix != expect:
        raise UsageError(
            _("'{value}' is a {kind} reference; this needs a {wanted} ({form}).").format(
                value=token, kind=_(ref.kind), wanted=_(KINDS[expect]), form=f"{expect}-n"
            )
        )
    return ref


def fmt_ref(prefix: str, seq: int, op_code: str | None = None) -> str:
    """`SG-15`, or `OP-X/SG-15` when `op_code` is given."""
    return f"{op_code}/{prefix}-{seq}" if op_code else f"{prefix}-{seq}"
