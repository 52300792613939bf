"""The shared command core: parsing, one module per noun, the registry and dispatch.

Importing this package registers every command in `REGISTRY`. Nothing here imports a
platform SDK (tests/test_layering.py enforces it).
"""

from bot.commands import (  # noqa: F401  (each module registers its commands)
    audit_log,
    briefings,
    export,
    fieldpins,
    finder,
    help,
    intent,
    members,
    notices,
    operations,
    ops_deconfliction,  # `op deconfliction`: registered after the other `op` verbs (help)
    photos,
    protect,
    raids,
    records,
    relations,
    room,
    sightings,
    subjects,
    templates,
)
from bot.commands.context import CommandContext, Core
from bot.commands.dispatch import dispatch
from bot.commands.registry import REGISTRY

__all__ = ["REGISTRY", "CommandContext", "Core", "dispatch"]
