"""The shared command core: parsing, one module per noun, the registry and dispatch.

Importing this package registers every command in `REGISTRY`. Nothing here imports a
platform SDK (tests/test_layering.py enforces it).
"""

from bot.commands import (  # noqa: F401  (each module registers its commands)
    amend,
    audit_log,
    briefings,
    exhibits,
    export,
    fieldpins,
    finder,
    handover,
    help,
    intent,
    members,
    merge,
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
    statements,
    subjects,
    tasks,
    templates,
    victims,
)
from bot.commands.context import CommandContext, Core
from bot.commands.dispatch import dispatch
from bot.commands.registry import REGISTRY

__all__ = ["REGISTRY", "CommandContext", "Core", "dispatch"]
