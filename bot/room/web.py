"""The situation room's HTTP surface: sign-in, pages, ticks, live events, static files.

Mounted by the server under `/room` (`routes(app)`). Cookies are HttpOnly, SameSite=Strict,
and Secure (with the `__Host-` prefix) when the public URL is https. Every state-changing
request (sign-in, tick, sign-out) is a POST that must carry its CSRF token: the sign-in form
a nonce also set as a cookie by the page that showed it (so a link opened in one browser
cannot be completed from another), the others the session's token. Responses are never
cached and forbid framing, inline scripts and any origin but this one (and the tile server).
"""

from __future__ import annotations

import asyncio
import os
import secrets
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import parse_qs, urlsplit

import structlog
from starlette.requests import Request
from starlette.responses import (
    HTMLResponse,
    JSONResponse,
    PlainTextResponse,
    RedirectResponse,
    Response,
    StreamingResponse,
)
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from bot.base.i18n import N_, _, use_language
from bot.commands.dispatch import dispatch
from bot.core import room_tokens as tokens
from bot.core.room_tokens import SignedIn
from bot.room import live, page
from bot.room.view import load_view, my_operations, room_invocation

if TYPE_CHECKING:  # the composition root passes itself in; the room never imports it
    from bot.serving.app import App

log = structlog.get_logger(__name__)

STATIC_DIR = Path(__file__).parent / "static"
NOT_SIGNED_IN = N_(
    "You are not signed in (or your session has ended): type `room` in chat for a new sign-in link."
)
BAD_LINK = N_("This sign-in link is used, expired or unknown: type `room` in chat for a new one.")
OTHER_BROWSER = N_(
    "This sign-in did not start in this browser: open the link from chat again, here."
)
BAD_CSRF = N_("This request did not come from the situation room page; reload it and try again.")
FORM_TYPE = "application/x-www-form-urlencoded"
FETCH_HEADER = "x-room-fetch"  # a tick sent by the page's script: answered as JSON
TICK_VERBS = ("check", "uncheck")
MAX_SEQ_DIGITS = 9  # a raid's number in a tick's path
NO_OPERATION = N_("There is no operation {code} that you belong to.")
TOO_MANY_STREAMS = N_(
    "This browser already has as many live room pages open as it may: close one, then "
    "reload this page."
)
ROOM_STREAMS_FULL = N_(
    "The situation room has as many live pages open as it serves: this page is not live; "
    "reload it to see changes."
)


class Room:
    """The room's routes over one App (its core, store, clock and settings)."""

    def __init__(self, app: App) -> None:
        self.app = app
        self.settings = app.settings
        self.notifier = live.Notifier()
        self.streams = live.Streams(
            self.settings.room_streams_per_session, self.settings.room_streams_total
        )
        base = (self.settings.public_url or "").strip()
        self.secure = base.lower().startswith("https://")
        prefix = "__Host-" if self.secure else ""
        self.cookie = f"{prefix}tf_room"
        self.login_cookie = f"{prefix}tf_room_login"
        tiles = (self.settings.room_tiles or "").strip() or None
        self.tiles = tiles
        tile_origin = ""
        if tiles:
            parts = urlsplit(tiles)
            tile_origin = f" {parts.scheme}://{parts.netloc}"
        self.csp = (
            "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
            f"img-src 'self' data:{tile_origin}; form-action 'self'; base-uri 'none'; "
            "frame-ancestors 'none'"
        )
        # Streams look again as soon as this process committed a command that queued posts.
        previous = app.core.on_outbox

        def on_outbox() -> None:
            previous()
            self.notifier.notify()

        app.core.on_outbox = on_outbox

    # ------------------------------------------------------------------ plumbing

    def security_headers(self) -> dict[str, str]:
        """The headers every response of the room carries (pages, files, errors)."""
        return {
            "Content-Security-Policy": self.csp,
            "Cache-Control": "no-store",
            "Referrer-Policy": "no-referrer",
            "X-Content-Type-Options": "nosniff",
            "X-Frame-Options": "DENY",
        }

    def _headers(self, response: Response) -> Response:
        response.headers.update(self.security_headers())
        return response

    def _html(self, body: str, status: int = 200) -> Response:
        return self._headers(HTMLResponse(body, status_code=status))

    def _sentence(self, status: int, title: str, sentence: str) -> Response:
        return self._html(page.sentence_page(title, sentence), status)

    def _set_cookie(self, response: Response, name: str, value: str, max_age: int) -> None:
        response.set_cookie(
            name,
            value,
            max_age=max_age,
            path="/",
            httponly=True,
            secure=self.secure,
            samesite="strict",
        )

    async def _signed_in(self, request: Request) -> tuple[SignedIn, str] | None:
        secret = request.cookies.get(self.cookie)
        if not secret:
            return None
        async with self.app.store.transaction() as session:
            found = await tokens.open_session(session, secret, self.app.clock())
        return (found, secret) if found is not None else None

    async def _form(self, request: Request) -> dict[str, str]:
        # The room's forms are URL-encoded (no file uploads): parsed here, no multipart.
        if not request.headers.get("content-type", "").startswith(FORM_TYPE):
            return {}
        try:
            fields = parse_qs((await request.body()).decode(), max_num_fields=10)
        except (UnicodeDecodeError, ValueError):
            return {}
        return {k: v[0] for k, v in fields.items()}

    def _refused(self) -> Response:
        return self._sentence(401, _("Not signed in"), _(NOT_SIGNED_IN))

    # -------------------------------------------------------------------- sign-in

    async def login_page(self, request: Request) -> Response:
        """GET of a sign-in link: whom it signs in, and a button (previews and scanners never
        use the link); an unusable link is refused at once."""
        token = request.query_params.get("t", "")
        async with self.app.store.transaction() as session:
            holder = await tokens.link_holder(session, token, self.app.clock())
        if holder is None:
            return self._sentence(400, _("Sign-in link"), _(BAD_LINK))
        nonce = secrets.token_urlsafe(24)
        with use_language(holder.language):
            body = page.confirm_login(token, nonce, holder.name, holder.identity)
        response = self._html(body)
        self._set_cookie(response, self.login_cookie, nonce, tokens.LINK_MINUTES * 60)
        return response

    async def login(self, request: Request) -> Response:
        """POST of the sign-in form: the link is used once and a session opens."""
        form = await self._form(request)
        nonce = request.cookies.get(self.login_cookie, "")
        if not nonce or not secrets.compare_digest(nonce, form.get("nonce", "")):
            log.info("room.login_refused", reason="other_browser")
            return self._sentence(403, _("Sign-in refused"), _(OTHER_BROWSER))
        hours = self.settings.room_session_hours
        async with self.app.store.transaction() as session:
            opened = await tokens.redeem_link(session, form.get("t", ""), self.app.clock(), hours)
        if opened is None:
            log.info("room.login_refused", reason="bad_link")
            return self._sentence(400, _("Sign-in refused"), _(BAD_LINK))
        response = self._headers(RedirectResponse("/room/", status_code=303))
        self._set_cookie(response, self.cookie, opened, int(hours * 3600))
        response.delete_cookie(self.login_cookie, path="/", secure=self.secure, httponly=True)
        log.info("room.signed_in")
        return response

    async def logout(self, request: Request) -> Response:
        """POST: end this browser's session."""
        found = await self._signed_in(request)
        if found is None:
            return self._refused()
        signed, secret = found
        if not tokens.csrf_ok(secret, (await self._form(request)).get("csrf")):
            return self._sentence(403, _("Refused"), _(BAD_CSRF))
        async with self.app.store.transaction() as session:
            await tokens.revoke(
                session,
                self.app.clock(),
                member_id=signed.member.id or 0,
                session_id=signed.session_id,
            )
        response = self._sentence(200, _("Signed out"), _("You are signed out of this browser."))
        response.delete_cookie(self.cookie, path="/", secure=self.secure, httponly=True)
        return response

    # ---------------------------------------------------------------------- pages

    async def home(self, request: Request) -> Response:
        """The member's operations."""
        found = await self._signed_in(request)
        if found is None:
            return self._refused()
        signed, secret = found
        async with self.app.store.transaction() as session:
            ops = await my_operations(session, signed.member.id or 0)
        with use_language(signed.member.language):
            body = page.operations(
                signed.member.name,
                [(op.code, op.name, role.value, op.status) for op, role in ops],
                tokens.csrf_token(secret),
            )
        return self._html(body)

    async def operation(
        self,
        request: Request,
        said: str | None = None,
        refused: tuple[int, int, str] | None = None,
    ) -> Response:
        """One operation's room (an audited `consult`); `said`: why a tick was refused
        (`refused`: beside which raid's item)."""
        found = await self._signed_in(request)
        if found is None:
            return self._refused()
        signed, secret = found
        code = str(request.path_params["code"]).upper()
        with use_language(signed.member.language):
            view = await load_view(self.app.core, signed, code, audit_it=True)
            if view is None:
                return self._sentence(404, _("Not found"), _(NO_OPERATION).format(code=code))
            body = page.operation(
                view, tokens.csrf_token(secret), tiles=self.tiles, said=said, refused=refused
            )
        return self._html(body, 200 if said is None else 400)

    async def tick(self, request: Request) -> Response:
        """POST: tick or untick an item, as the typed `check`/`uncheck` command would."""
        found = await self._signed_in(request)
        if found is None:
            return self._refused()
        signed, secret = found
        form = await self._form(request)
        if not tokens.csrf_ok(secret, form.get("csrf")):
            return self._sentence(403, _("Refused"), _(BAD_CSRF))
        code = str(request.path_params["code"]).upper()
        verb = str(request.path_params["verb"])
        if verb not in TICK_VERBS:
            return self._sentence(404, _("Not found"), _("There is no such page."))
        seq_text = str(request.path_params["seq"])
        if not (seq_text.isascii() and seq_text.isdigit() and len(seq_text) <= MAX_SEQ_DIGITS):
            return self._sentence(404, _("Not found"), _("There is no such page."))
        seq = int(seq_text)
        item = form.get("item", "").strip()
        if not item.isascii() or not item.isdigit() or len(item) > 4:
            return self._sentence(400, _("Refused"), _("Choose an item to tick."))
        line = f"{verb} {code}/R-{seq} {item}"
        reply = await dispatch(self.app.core, room_invocation(signed, line))
        said = " ".join(reply.message.lines)
        if request.headers.get(FETCH_HEADER) == "1":  # the page's script: one answer, no page
            return self._headers(
                JSONResponse({"ok": reply.ok, "said": said}, status_code=200 if reply.ok else 400)
            )
        if not reply.ok:
            return await self.operation(request, said=said, refused=(seq, int(item), said))
        anchor = f"R-{seq}-{int(item)}"
        return self._headers(RedirectResponse(f"/room/op/{code}#{anchor}", status_code=303))

    async def events(self, request: Request) -> Response:
        """Server-sent events: `changed` when this member's view changed."""
        found = await self._signed_in(request)
        if found is None:
            return self._refused()
        session_id = found[0].session_id
        full = self.streams.take(session_id)
        if full is not None:
            log.info("room.stream_refused", limit=full)
            sentence = TOO_MANY_STREAMS if full == "session" else ROOM_STREAMS_FULL
            return self._headers(PlainTextResponse(_(sentence), status_code=429))
        code = str(request.path_params["code"]).upper()
        since = request.query_params.get("since") or None
        cookie = found[1]
        core = self.app.core

        loop_time = asyncio.get_running_loop().time
        poll = self.settings.room_poll_seconds

        async def fingerprint() -> str | None:
            # The session is checked by each stream; the view is looked at once for every
            # stream showing the same member the same operation (`Notifier.look`).
            async with self.app.store.transaction() as session:
                signed = await tokens.open_session(session, cookie, self.app.clock())
            if signed is None:
                return None

            async def view_fingerprint() -> str | None:
                view = await load_view(core, signed, code, audit_it=False)
                return view.fingerprint() if view is not None else None

            key = (signed.member.id, signed.identity.id, signed.member.language, code)
            return await self.notifier.look(key, view_fingerprint, loop_time(), poll / 2)

        body = live.stream(self.notifier, fingerprint, since, poll, loop_time)
        response = CountedStream(
            body, lambda: self.streams.give_back(session_id), media_type="text/event-stream"
        )
        response.headers["X-Accel-Buffering"] = "no"
        return self._headers(response)


class CountedStream(StreamingResponse):
    """An event stream that gives its place back (`Streams.give_back`) however it ends:
    finished, cut by the browser, or cancelled at shutdown."""

    def __init__(
        self, content: AsyncIterator[str], release: Callable[[], None], media_type: str
    ) -> None:
        super().__init__(content, media_type=media_type)
        self._release = release

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Stream, then give the place back."""
        try:
            await super().__call__(scope, receive, send)
        finally:
            self._release()


class RoomFiles(StaticFiles):
    """The room's static files. A path no file can have (a NUL byte, which the file system
    calls refuse with ValueError) is not found, like any other missing file."""

    def lookup_path(self, path: str) -> tuple[str, os.stat_result | None]:
        """Where `path` is on disk, and its stat; nothing for an impossible path."""
        if "\x00" in path:
            return "", None
        return super().lookup_path(path)


class Guard:
    """Every response under `/room` carries the room's security headers, whoever answered
    it: pages, static files, a plain 404/405, the redirect of `/room`, a refusal of the
    server's middleware. An unexpected error there is a 500 with those headers too (logged
    with its traceback: that is a bug, never a visitor's doing)."""

    def __init__(self, app: ASGIApp, room: Room, prefix: str = "/room") -> None:
        self.app = app
        self.prefix = prefix
        self.headers = [
            (k.lower().encode("latin-1"), v.encode("latin-1"))
            for k, v in room.security_headers().items()
        ]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] != "http" or not (
            path == self.prefix or path.startswith(self.prefix + "/")
        ):
            await self.app(scope, receive, send)
            return
        started = False

        async def send_guarded(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                headers = list(message.get("headers", []))
                present = {k.lower() for k, _ in headers}
                headers.extend(h for h in self.headers if h[0] not in present)
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, receive, send_guarded)
        except Exception:
            if started:
                raise
            log.exception("room.error")
            await PlainTextResponse("Internal Server Error", status_code=500)(
                scope, receive, send_guarded
            )


def routes(app: App) -> list[BaseRoute]:
    """The room's routes, to mount under `/room` (`Mount("/room", routes=routes(app))`)."""
    room = Room(app)
    app.extras["room"] = room
    return [
        Route("/", room.home, methods=["GET"]),
        Route("/login", room.login_page, methods=["GET"]),
        Route("/login", room.login, methods=["POST"]),
        Route("/logout", room.logout, methods=["POST"]),
        Route("/op/{code}", room.operation, methods=["GET"]),
        # `seq` is read by the handler: an int convertor would raise (a 500) on 5,000 digits.
        Route("/op/{code}/raid/{seq}/{verb}", room.tick, methods=["POST"]),
        Route("/op/{code}/events", room.events, methods=["GET"]),
        Mount("/static", app=RoomFiles(directory=STATIC_DIR), name="room-static"),
    ]


def mount(app: App) -> Mount:
    """The room under `/room`, for the server's route list."""
    return Mount("/room", routes=routes(app))
