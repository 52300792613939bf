"""The Traffic Light Protocol 2.0 labels (README, "Victim safety and need-to-know"): the
vocabulary every layer writes and renders; who may read what is `bot.core.disclosure`'s."""

from __future__ import annotations

import enum

from bot.base.i18n import _

TLP_ORDER = ["clear", "green", "amber", "amber+strict", "red"]


class TLP(enum.StrEnum):
    """Traffic Light Protocol 2.0 labels, ordered from widest to narrowest audience."""

    CLEAR = "clear"
    GREEN = "green"
    AMBER = "amber"
    AMBER_STRICT = "amber+strict"
    RED = "red"

    @property
    def rank(self) -> int:
        """0 for CLEAR up to 4 for RED."""
        return TLP_ORDER.index(self.value)

    @property
    def label(self) -> str:
        """The label as written: `TLP:AMBER+STRICT` (capitals, never translated)."""
        return f"TLP:{self.value.upper()}"

    @classmethod
    def parse(cls, raw: str) -> TLP:
        """Accept `amber`, `TLP:AMBER`, `amber+strict`, `amber-strict`; raise ValueError."""
        value = raw.strip().lower().removeprefix("tlp:").replace("amber-strict", "amber+strict")
        value = value.replace("white", "clear")  # TLP 1.0 name
        try:
            return cls(value)
        except ValueError:
            raise ValueError(
                _(
                    "'{value}' is not a TLP label; use one of red, amber+strict, amber, green, "
                    "clear."
                ).format(value=raw)
            ) from None
