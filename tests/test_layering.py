"""Rule 1 of the architecture: the core never imports a platform SDK or a platform adapter;
and the reverse: an adapter imports only the contracts and the core's entry points, never the
store, the models or the outbox.

Checked twice: statically, by walking the AST of every core file (nested and lazy imports,
`importlib.import_module("…")` and `__import__("…")` included); and dynamically, by
importing the core in a fresh interpreter and looking at `sys.modules`.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
BOT = ROOT / "bot"
SDKS = ("slack_bolt", "slack_sdk", "telegram", "nio")
# The layers above the core: serving (composition root, HTTP, CLI), the room, the adapters.
ABOVE_THE_CORE = ("bot.serving", "bot.room", "bot.adapters")
# The core is every module of these folders (docs/architecture.md, "Layers") — no hand list.
CORE_FOLDERS = ("base", "store", "core", "commands", "jobs")


def core_files() -> list[Path]:
    """Every file of the core: the folders above (migrations excepted) and bot/contracts.py."""
    files = [BOT / "contracts.py"]
    for folder in CORE_FOLDERS:
        files += [p for p in sorted((BOT / folder).rglob("*.py")) if "migrations" not in p.parts]
    return files


def core_modules() -> list[str]:
    """The importable names of `core_files()`."""
    return [module_name(p) for p in core_files()]


def module_name(path: Path) -> str:
    """`bot/commands/help.py` → `bot.commands.help`."""
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def forbidden(name: str) -> bool:
    """Whether importing module `name` from the core breaks the layering."""
    top = name.split(".")[0]
    if top in SDKS:
        return True
    return any(name == m or name.startswith(m + ".") for m in ABOVE_THE_CORE)


# What an adapter may import of the bot: the contracts, the gateway (the core's entry points,
# the inbox's entries included), the base layer (the neutral message, the configuration, the
# TLP vocabulary, metrics, translations), and other adapter modules. Nothing else: not the
# store, the models, the inbox, the outbox, the commands, the composition root.
ADAPTER_MAY_IMPORT = (
    "bot.contracts",
    "bot.gateway",
    "bot.base",
    "bot.adapters",
)


def forbidden_in_adapter(name: str) -> bool:
    """Whether an adapter importing module (or name) `name` reaches past the gateway."""
    if name in ("bot", "bot.base"):  # `from bot.base import metrics`: the module is checked alone
        return False
    if not name.startswith("bot."):
        return False
    return not any(name == m or name.startswith(m + ".") for m in ADAPTER_MAY_IMPORT)


def adapter_files() -> list[Path]:
    """Every module in bot/adapters/."""
    return sorted((BOT / "adapters").rglob("*.py"))


def imported_names(source: str, module: str, is_package: bool = False) -> list[tuple[int, str]]:
    """Every module the source imports, at any depth, with its line number."""
    package = module if is_package else module.rpartition(".")[0]
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                anchor = ".".join(parts[: len(parts) - node.level + 1])
                base = f"{anchor}.{base}" if base else anchor
            found.append((node.lineno, base))
            found += [(node.lineno, f"{base}.{alias.name}") for alias in node.names]
        elif isinstance(node, ast.Call):
            fn = node.func
            called = fn.attr if isinstance(fn, ast.Attribute) else getattr(fn, "id", "")
            if called in ("import_module", "__import__") and node.args:
                arg = node.args[0]
                if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                    found.append((node.lineno, arg.value))
    return found


def violations(path: Path) -> list[str]:
    """`file:line imports X` for every forbidden import in `path`."""
    module = module_name(path)
    names = imported_names(path.read_text(), module, path.name == "__init__.py")
    rel = path.relative_to(ROOT)
    return [f"{rel}:{line} imports {name}" for line, name in names if forbidden(name)]


def test_the_core_files_exist() -> None:
    files = core_files()
    assert BOT / "commands" / "dispatch.py" in files
    assert BOT / "core" / "disclosure.py" in files
    assert BOT / "jobs" / "scheduler.py" in files
    assert all(f.exists() for f in files)


@pytest.mark.parametrize("path", core_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_no_platform_import_in_the_core(path: Path) -> None:
    assert violations(path) == []


@pytest.mark.parametrize(
    "source",
    [
        "import telegram",
        "from slack_sdk.web.async_client import AsyncWebClient",
        "def later():\n    import slack_bolt\n",
        "class A:\n    def f(self):\n        from telegram.ext import Application\n",
        "import importlib\nmod = importlib.import_module('slack_sdk')",
        "mod = __import__('telegram')",
        "from bot.adapters import slack",
        "from ..adapters.telegram import TelegramSender",
        "from ..serving.app import build_app",
        "from bot.room.web import build",
        "from bot.adapters.console import ConsoleSender",
        "from bot.adapters.base import Reply",
        "from ..adapters.base import Invocation",
    ],
)
def test_the_check_finds_every_kind_of_import(source: str) -> None:
    names = imported_names(source, "bot.commands.example")
    assert any(forbidden(name) for _, name in names), names


@pytest.mark.parametrize(
    "source",
    [
        "from bot.contracts import Reply",
        "from ..contracts import Invocation",
        "from bot.base.messages import Message",
        "import telegramish_helper",
        "from bot.commands.render import x",
    ],
)
def test_the_check_allows_the_contracts(source: str) -> None:
    names = imported_names(source, "bot.commands.example")
    assert not any(forbidden(name) for _, name in names), names


def test_importing_the_core_loads_no_platform_module() -> None:
    modules = core_modules()
    probe = (
        "import importlib, json, sys\n"
        f"for m in {modules!r}:\n"
        "    importlib.import_module(m)\n"
        "print(json.dumps(sorted(sys.modules)))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, check=True
    )
    loaded = json.loads(out.stdout)
    assert "bot.commands.dispatch" in loaded
    assert [m for m in loaded if forbidden(m)] == []


@pytest.mark.parametrize("path", adapter_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_adapters_reach_the_core_only_through_its_entry_points(path: Path) -> None:
    module = module_name(path)
    names = imported_names(path.read_text(), module, path.name == "__init__.py")
    rel = path.relative_to(ROOT)
    assert [f"{rel}:{line} imports {n}" for line, n in names if forbidden_in_adapter(n)] == []


@pytest.mark.parametrize(
    "source",
    [
        "from bot.store.engine import Store",
        "from bot.store.models import Identity",
        "import bot.store.models",
        "from bot import outbox",
        "from bot.store.outbox import enqueue",
        "from bot.store.inbox import InboxEntry",
        "from ..store import Store",
        "def later():\n    from bot.store.models import ProcessedEvent\n",
        "import importlib\nmod = importlib.import_module('bot.store.outbox')",
        "from bot.commands.dispatch import dispatch",
        "from bot.serving.app import App",
    ],
)
def test_the_adapter_check_finds_the_store_the_models_and_the_outbox(source: str) -> None:
    names = imported_names(source, "bot.adapters.example")
    assert any(forbidden_in_adapter(name) for _, name in names), names


@pytest.mark.parametrize(
    "source",
    [
        "from bot.contracts import Invocation, Reply",
        "from bot.gateway import Gateway",
        "from bot.base import metrics",
        "from bot.gateway import InboxEntry",
        "from bot.base.tlp import TLP",
        "from bot.adapters import slack_render",
        "from .telegram_render import render_html",
        "import telegram",
    ],
)
def test_the_adapter_check_allows_the_contracts_and_the_gateway(source: str) -> None:
    names = imported_names(source, "bot.adapters.example")
    assert not any(forbidden_in_adapter(name) for _, name in names), names
