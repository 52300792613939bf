"""Read the reverse-proxy configurations of docs/deploy/ the way Caddy and nginx route.

`caddy_handle(site, path)` is the `handle` block Caddy runs for a request path, and
`nginx_location(server, path)` the `location` nginx picks: each follows its server's own
rules (Caddy: handle blocks with one path matcher, the longest path first, then the one
without a matcher; nginx: an exact `=`, else the longest prefix unless a regex matches
first), so a test can ask, for every path the app serves, what the proxy does with it.
nginx files are parsed by crossplane (nginx's own parser in Python); Caddyfiles, whose
grammar is a directive per line and braces for blocks, by `parse_caddyfile`.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import crossplane


@dataclass
class Directive:
    """One Caddyfile line: its name, its arguments and the block it opens (if any)."""

    name: str
    args: list[str]
    block: list[Directive] = field(default_factory=list)

    def find(self, name: str) -> list[Directive]:
        """The directives called `name` directly inside this block."""
        return [d for d in self.block if d.name == name]


def parse_caddyfile(text: str) -> list[Directive]:
    """The Caddyfile's top-level directives (site blocks), with their nested blocks."""
    top: list[Directive] = []
    stack = [top]
    for number, raw in enumerate(text.splitlines(), 1):
        tokens = shlex.split(raw, comments=True)
        if not tokens:
            continue
        if tokens == ["}"]:
            assert len(stack) > 1, f"line {number}: '}}' closes nothing"
            stack.pop()
            continue
        opens = tokens[-1] == "{"
        if opens:
            tokens = tokens[:-1]
        assert tokens and "{" not in tokens and "}" not in tokens, f"line {number}: {raw!r}"
        directive = Directive(tokens[0], tokens[1:])
        stack[-1].append(directive)
        if opens:
            stack.append(directive.block)
    assert len(stack) == 1, "a block is not closed"
    return top


def caddy_path_matches(pattern: str, path: str) -> bool:
    """Caddy's `path` matcher: exact, `/prefix/*`, or `*` inside a segment (a glob)."""
    if "*" not in pattern:
        return path == pattern
    if pattern.endswith("*") and pattern.count("*") == 1:
        return path.startswith(pattern[:-1])
    glob = "[^/]*".join(re.escape(part) for part in pattern.split("*"))
    return re.fullmatch(glob, path) is not None


def caddy_handle(site: Directive, path: str) -> Directive | None:
    """The `handle` block of `site` that Caddy runs for `path`, if any."""
    handles = site.find("handle")
    for handle in handles:
        assert len(handle.args) <= 1 and all(a.startswith("/") for a in handle.args), (
            f"handle {handle.args}: only one inline path matcher is modelled here"
        )
    ordered = sorted(handles, key=lambda h: -len(h.args[0]) if h.args else 1)
    for handle in ordered:
        if not handle.args or caddy_path_matches(handle.args[0], path):
            return handle
    return None


NginxBlock = dict[str, Any]


def parse_nginx(path: Path) -> list[NginxBlock]:
    """The file's top-level directives, as crossplane gives them (a conf.d snippet)."""
    payload = crossplane.parse(str(path), check_ctx=False, single=True, comments=False)
    assert payload["status"] == "ok", payload["errors"]
    parsed: list[NginxBlock] = payload["config"][0]["parsed"]
    return parsed


def nginx_find(block: list[NginxBlock], name: str) -> list[NginxBlock]:
    """The directives called `name` directly inside `block`."""
    return [d for d in block if d["directive"] == name]


def nginx_location(server: NginxBlock, path: str) -> NginxBlock | None:
    """The `location` of `server` that nginx picks for `path`."""
    locations = nginx_find(server["block"], "location")
    for loc in locations:
        if loc["args"][0] == "=" and loc["args"][1] == path:
            return loc
    prefixes = [loc for loc in locations if len(loc["args"]) == 1 or loc["args"][0] == "^~"]
    longest = max(
        (loc for loc in prefixes if path.startswith(loc["args"][-1])),
        key=lambda loc: len(loc["args"][-1]),
        default=None,
    )
    if longest is not None and longest["args"][0] == "^~":
        return longest
    for loc in locations:
        kind = loc["args"][0]
        if kind in ("~", "~*"):
            flags = re.IGNORECASE if kind == "~*" else 0
            if re.search(loc["args"][1], path, flags):
                return loc
    return longest


def nginx_setting(server: NginxBlock, location: NginxBlock, name: str) -> list[str] | None:
    """The arguments of `name` in effect in `location` (its own, else inherited)."""
    for block in (location["block"], server["block"]):
        found = nginx_find(block, name)
        if found:
            args: list[str] = found[-1]["args"]
            return args
    return None
