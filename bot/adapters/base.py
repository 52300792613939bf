"""Moved to `bot.contracts` (the platform contracts are not an adapter's).

Kept one release so branches written before the move still import; the layering test
refuses this path in the core and in adapters.
"""

from bot.contracts import *  # noqa: F403
from bot.contracts import (  # noqa: F401  (names `*` skips)
    UNACCEPTABLE_TEXT,
    Actor,
    Channel,
    Invocation,
    Reply,
    Sender,
    SendError,
    Visibility,
    clean_name,
    normalise_text,
)
