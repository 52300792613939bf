"""docs/deploy.md's reverse proxies serve every route the app serves, and nothing else.

The app's own route table (built as `taskforce serve` builds it, with Slack, Telegram and
Matrix configured) is walked path by path; for each, the Caddyfile and the nginx
configuration in docs/deploy/ are asked what they do with that path, by their own
routing rules (tests/proxyconf.py): a platform or room path must reach the bot, the
room's live stream must not be buffered, the probes must stay private. A route added to
the app without its proxy line fails here.
"""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml
from starlette.routing import BaseRoute, Mount, Route

from bot.room.web import Room
from bot.serving.server import PROBES, create_app
from tests.conftest import AppFactory
from tests.proxyconf import (
    Directive,
    NginxBlock,
    caddy_handle,
    nginx_find,
    nginx_location,
    nginx_setting,
    parse_caddyfile,
    parse_nginx,
)

ROOT = Path(__file__).resolve().parent.parent
DEPLOY_MD = ROOT / "docs" / "deploy.md"
CADDYFILE = ROOT / "docs" / "deploy" / "Caddyfile"
NGINX_CONF = ROOT / "docs" / "deploy" / "nginx.conf"
PARAM = re.compile(r"\{(\w+)(?::(\w+))?\}")


def compose_upstream() -> str:
    """Where compose.yaml publishes the bot on the host (`127.0.0.1:8000`)."""
    compose = yaml.safe_load((ROOT / "compose.yaml").read_text())
    published: str = compose["services"]["taskforce"]["ports"][0]
    host, port, _ = published.rsplit(":", 2)
    return f"{host}:{port}"


def sample_path(template: str) -> str:
    """A concrete request path for a route template (`/op/{code}` → `/op/OP-X`)."""
    return PARAM.sub(lambda m: "7" if m.group(2) == "int" else "OP-X", template)


def walk(routes: list[BaseRoute], prefix: str = "") -> list[tuple[str, Route | None]]:
    """Every (sample path, route) the table serves; a mounted app (static files) is
    represented by one of its files, with no Route."""
    found: list[tuple[str, Route | None]] = []
    for route in routes:
        if isinstance(route, Route):
            found.append((sample_path(prefix + route.path), route))
        elif isinstance(route, Mount) and route.routes:
            found.extend(walk(list(route.routes), prefix + route.path))
        elif isinstance(route, Mount):
            directory = Path(route.app.directory)
            a_file = min(p.name for p in directory.iterdir() if p.is_file())
            found.append((f"{prefix}{route.path}/{a_file}", None))
        else:
            raise AssertionError(f"a route of a kind this test does not know: {route!r}")
    return found


def is_stream(route: Route | None) -> bool:
    """Whether the route answers with server-sent events (the room's live stream)."""
    return route is not None and getattr(route.endpoint, "__func__", None) is Room.events


@pytest.fixture
async def served(make_app: AppFactory, sqlite_url: str) -> list[tuple[str, Route | None]]:
    """The app's routes with every platform on, over HTTP (the widest route table)."""
    app = await make_app(
        sqlite_url,
        SLACK_BOT_TOKEN="xoxb-1",
        SLACK_SIGNING_SECRET="secret",
        TELEGRAM_BOT_TOKEN="123:ABC",
        TELEGRAM_WEBHOOK_SECRET="secret",
        MATRIX_HOMESERVER="https://matrix.example.org",
        MATRIX_ACCESS_TOKEN="token",
        TASKFORCE_PUBLIC_URL="https://taskforce.example.org",
    )
    found = walk(create_app(app.settings, app=app).routes)
    paths = [path for path, _ in found]
    # The walk saw what the guide is about, so the checks below cannot pass on nothing.
    assert {"/slack/events", "/telegram/webhook", *PROBES} <= set(paths)
    assert any(is_stream(route) for _, route in found)
    assert any(path.startswith("/room/static/") for path in paths)
    return found


def caddy_site() -> Directive:
    (site,) = parse_caddyfile(CADDYFILE.read_text())
    return site


def nginx_https_server() -> NginxBlock:
    servers = nginx_find(parse_nginx(NGINX_CONF), "server")
    (https,) = [
        s for s in servers if any("ssl" in d["args"] for d in nginx_find(s["block"], "listen"))
    ]
    return https


def test_matrix_has_no_inbound_route(served: list[tuple[str, Route | None]]) -> None:
    # deploy.md says the proxy needs nothing for Matrix: the bot syncs outbound.
    assert not [path for path, _ in served if path.startswith("/matrix")]


def test_caddy_proxies_every_route_but_the_probes(
    served: list[tuple[str, Route | None]],
) -> None:
    site = caddy_site()
    upstream = compose_upstream()
    for path, route in [*served, ("/not-served", None)]:
        handle = caddy_handle(site, path)
        assert handle is not None, f"Caddy has no handle for {path}"
        proxies = handle.find("reverse_proxy")
        if path in PROBES or path == "/not-served":
            assert not proxies, f"Caddy exposes {path}"
            assert [d.args for d in handle.find("respond")] == [["404"]], path
            continue
        assert len(proxies) == 1 and proxies[0].args == [upstream], f"Caddy: {path}"
        flushes = [d.args for d in proxies[0].find("flush_interval")]
        if is_stream(route):
            assert flushes == [["-1"]], f"Caddy buffers the live stream {path}"


def test_nginx_proxies_every_route_but_the_probes(
    served: list[tuple[str, Route | None]],
) -> None:
    config = parse_nginx(NGINX_CONF)
    server = nginx_https_server()
    (upstream,) = nginx_find(config, "upstream")
    assert [d["args"] for d in nginx_find(upstream["block"], "server")] == [[compose_upstream()]]
    for path, route in [*served, ("/not-served", None)]:
        location = nginx_location(server, path)
        assert location is not None, f"nginx has no location for {path}"
        proxy = nginx_setting(server, location, "proxy_pass")
        if path in PROBES or path == "/not-served":
            assert proxy is None, f"nginx exposes {path}"
            assert nginx_setting(server, location, "return") == ["404"], path
            continue
        assert proxy == [f"http://{upstream['args'][0]}"], f"nginx: {path}"
        # Keep-alive to the upstream and the live stream both need HTTP/1.1.
        assert nginx_setting(server, location, "proxy_http_version") == ["1.1"]
        if is_stream(route):
            assert nginx_setting(server, location, "proxy_buffering") == ["off"], (
                f"nginx buffers the live stream {path}"
            )


def test_the_proxies_answer_for_the_public_url_the_guide_sets() -> None:
    guide = DEPLOY_MD.read_text()
    found = re.search(r"^TASKFORCE_PUBLIC_URL=(\S+)", guide, re.MULTILINE)
    assert found, "deploy.md's .env sets no TASKFORCE_PUBLIC_URL"
    public = urlsplit(found.group(1))
    assert public.scheme == "https"
    assert caddy_site().name == public.netloc
    for server in nginx_find(parse_nginx(NGINX_CONF), "server"):
        assert [d["args"] for d in nginx_find(server["block"], "server_name")] == [[public.netloc]]


@pytest.mark.parametrize("config", [CADDYFILE, NGINX_CONF], ids=lambda p: p.name)
def test_the_guide_quotes_each_configuration_as_it_is(config: Path) -> None:
    blocks = re.findall(r"^```\w*\n(.*?)^```", DEPLOY_MD.read_text(), re.MULTILINE | re.DOTALL)
    assert config.read_text() in blocks, f"deploy.md does not quote {config.name} verbatim"
    assert f"](deploy/{config.name})" in DEPLOY_MD.read_text()
