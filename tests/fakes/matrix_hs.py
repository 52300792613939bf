"""A fake Matrix homeserver: the client-server endpoints the bot uses, on port 0.

The real matrix-nio client talks to it over HTTP (`/_matrix/client/v3/...`, bearer token):
`sync` (long-polled, `since` tokens `s<n>`), `join`, `rooms/{id}/leave`,
`rooms/{id}/send/{type}/{txn}` (a repeated transaction id returns the first event, as the
spec says), `rooms/{id}/event/{id}`, `rooms/{id}/messages` (backwards, `from`/`to`),
`rooms/{id}/joined_members`, `rooms/{id}/invite`, `createRoom`, `account/whoami`, `login`,
and `keys/upload`/`keys/query` answered as for a device nobody else encrypts to (the bot's
end-to-end encryption is tested against Synapse, tests/test_matrix_synapse.py).
A sync's room timeline holds the filter's `limit` newest events (10 without a filter, as
Synapse) and says `limited` with a `prev_batch` when it left some out. Errors have
Matrix's shape (`errcode`, `error`, `retry_after_ms` on 429).

    async with FakeHomeserver() as hs:
        app = await make_app(db_url, **hs.settings())
        room = hs.invite("@ana:fake.test", name="Field team")    # the bot is invited
        dm = hs.invite("@ana:fake.test", direct=True)             # a DM with the bot
        hs.say(room, "@ana:fake.test", "!tf op list")             # a person writes
        hs.redeliver(event_id)                                    # the same event again
        hs.fail_next("send", 429, retry_after_ms=1500)             # the next send
        hs.timeline_cap = 5                                       # syncs say `limited`
        hs.join(dm, "@eve:fake.test")                             # a third person joins
        hs.sent(room)                                             # what the bot posted
        hs.syncs                                                  # `since` of every sync
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

SERVER = "fake.test"
BOT = f"@taskforce:{SERVER}"
TOKEN = "syt_fake_token"
START_TS = 1_795_856_400_000  # ms
DEFAULT_TIMELINE_LIMIT = 10  # Synapse's, for a sync without a filter


@dataclass
class Room:
    """One room as the server holds it."""

    room_id: str
    name: str
    members: set[str] = field(default_factory=set)
    invited: set[str] = field(default_factory=set)
    encrypted: bool = False
    direct: bool = False
    created: dict[str, Any] = field(default_factory=dict)  # the createRoom body, if the bot's


@dataclass
class Sent:
    """An event the bot sent."""

    room_id: str
    type: str
    content: dict[str, Any]
    event_id: str

    @property
    def body(self) -> str:
        """The plain body."""
        return str(self.content.get("body", ""))

    @property
    def html(self) -> str:
        """The formatted (HTML) body."""
        return str(self.content.get("formatted_body", ""))


@dataclass
class _Failure:
    what: str
    status: int
    errcode: str
    retry_after_ms: int | None
    room_id: str | None = None


class FakeHomeserver:
    """A local homeserver for one bot account (see the module docstring)."""

    def __init__(self) -> None:
        self.rooms: dict[str, Room] = {}
        # (position, room_id, event) for timelines; (position, room_id, None) for invites
        self._stream: list[tuple[int, str, dict[str, Any] | None]] = []
        self._pos = itertools.count(1)
        self.head = 0
        self._ids = itertools.count(1)
        self._sent: list[Sent] = []
        self._txns: dict[str, str] = {}
        self._losses: list[str] = []
        self._events: dict[str, tuple[str, dict[str, Any]]] = {}
        self._failures: list[_Failure] = []
        self.syncs: list[str | None] = []
        self.filters: list[str | None] = []  # the `filter` of every sync
        # A server may return fewer timeline events than the filter asks (and say `limited`).
        self.timeline_cap: int | None = None
        # Invitees of rooms the bot creates accept at once unless this is False.
        self.accept_invites = True
        self.requests: list[str] = []
        self._changed = asyncio.Condition()
        self._runner: web.AppRunner | None = None
        self.url = ""

    # ------------------------------------------------------------- lifecycle

    async def __aenter__(self) -> FakeHomeserver:
        app = web.Application()
        r = app.router
        base = "/_matrix/client/v3"
        r.add_get("/_matrix/client/versions", self._versions)
        r.add_post(f"{base}/login", self._login)
        r.add_get(f"{base}/account/whoami", self._whoami)
        r.add_get(f"{base}/sync", self._sync)
        r.add_post(f"{base}/join/{{room}}", self._join)
        r.add_post(f"{base}/rooms/{{room}}/leave", self._leave)
        r.add_put(f"{base}/rooms/{{room}}/send/{{type}}/{{txn}}", self._send)
        r.add_get(f"{base}/rooms/{{room}}/event/{{event}}", self._get_event)
        r.add_post(f"{base}/createRoom", self._create_room)
        r.add_get(f"{base}/rooms/{{room}}/messages", self._messages)
        r.add_get(f"{base}/rooms/{{room}}/joined_members", self._joined_members)
        r.add_post(f"{base}/rooms/{{room}}/invite", self._invite)
        r.add_get(f"{base}/rooms/{{room}}/state/m.room.encryption", self._encryption)
        r.add_post(f"{base}/keys/upload", self._keys_upload)
        r.add_post(f"{base}/keys/query", self._keys_query)
        self._runner = web.AppRunner(app, shutdown_timeout=0.5)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        server = site._server
        assert server is not None
        port = server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.url = f"http://127.0.0.1:{port}"
        return self

    async def __aexit__(self, *exc: object) -> None:
        async with self._changed:
            self._changed.notify_all()
        if self._runner is not None:
            await self._runner.cleanup()

    def settings(self, **extra: Any) -> dict[str, Any]:
        """Settings overrides for `make_app`: this homeserver and token, no pace, short polls."""
        values: dict[str, Any] = {
            "MATRIX_HOMESERVER": self.url,
            "MATRIX_ACCESS_TOKEN": TOKEN,
            "MATRIX_POST_INTERVAL": 0,
            "MATRIX_SYNC_TIMEOUT_MS": 500,
        }
        values.update(extra)
        return values

    # ------------------------------------------------------------ test API

    def invite(
        self,
        inviter: str,
        *,
        name: str = "",
        direct: bool = False,
        encrypted: bool = False,
        members: tuple[str, ...] = (),
    ) -> str:
        """A room `inviter` made (with `members`), inviting the bot; its room id."""
        room_id = f"!r{next(self._ids)}:{SERVER}"
        room = Room(room_id, name or room_id, {inviter, *members}, {BOT}, encrypted, direct)
        self.rooms[room_id] = room
        self._append(room_id, None)
        return room_id

    def say(self, room_id: str, sender: str, body: str, **content: Any) -> str:
        """`sender` writes `body` (an `m.text`) in the room; the event id."""
        return self._event(
            room_id, sender, "m.room.message", {"msgtype": "m.text", "body": body, **content}
        )

    def state(self, room_id: str, sender: str, type_: str, content: dict[str, Any]) -> str:
        """A state event in the room's timeline (e.g. `m.room.encryption`)."""
        if type_ == "m.room.encryption":
            self.rooms[room_id].encrypted = True
        return self._event(room_id, sender, type_, content, state_key="")

    def join(self, room_id: str, user: str) -> str:
        """`user` joins the room (an invitee accepting, or anyone let in); the event id."""
        room = self.rooms[room_id]
        room.invited.discard(user)
        room.members.add(user)
        return self._event(room_id, user, "m.room.member", {"membership": "join"}, state_key=user)

    def leave(self, room_id: str, user: str) -> str:
        """`user` leaves the room; the event id."""
        self.rooms[room_id].members.discard(user)
        return self._event(room_id, user, "m.room.member", {"membership": "leave"}, state_key=user)

    def redeliver(self, event_id: str) -> None:
        """Put an event already delivered into the stream again (same event id)."""
        room_id, event = self._events[event_id]
        self._append(room_id, event)

    def fail_next(
        self,
        what: str,
        status: int,
        errcode: str = "M_LIMIT_EXCEEDED",
        retry_after_ms: int | None = None,
        room_id: str | None = None,
    ) -> None:
        """The next request of `what` (`send`, `sync`, `messages`, `createRoom`; to one room)
        fails so."""
        self._failures.append(_Failure(what, status, errcode, retry_after_ms, room_id))

    def lose_next_answer(self, room_id: str) -> None:
        """The next send to `room_id` is posted, but its answer is lost on the way back (a
        proxy times out: the bot sees 502 and cannot know the event exists)."""
        self._losses.append(room_id)

    def sent(self, room_id: str | None = None) -> list[Sent]:
        """Events the bot sent (to one room), oldest first."""
        return [s for s in self._sent if room_id is None or s.room_id == room_id]

    def direct_room(self, user: str) -> str | None:
        """The DM room the bot opened with `user`, if any."""
        for room in self.rooms.values():
            people = room.members | room.invited
            if room.direct and BOT in room.members and user in people and len(people) == 2:
                return room.room_id
        return None

    # ------------------------------------------------------------ internals

    def _event(
        self, room_id: str, sender: str, type_: str, content: dict[str, Any], **extra: Any
    ) -> str:
        event_id = f"$e{next(self._ids)}"
        event = {
            "type": type_,
            "sender": sender,
            "content": content,
            "event_id": event_id,
            "origin_server_ts": START_TS + len(self._events),
            "room_id": room_id,
            **extra,
        }
        self._events[event_id] = (room_id, event)
        self._append(room_id, event)
        return event_id

    def _append(self, room_id: str, event: dict[str, Any] | None) -> None:
        pos = next(self._pos)
        self._stream.append((pos, room_id, event))
        self.head = pos
        asyncio.get_running_loop().create_task(self._notify())

    async def _notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    def _failure(self, what: str, room_id: str | None = None) -> web.Response | None:
        for f in self._failures:
            if f.what == what and f.room_id in (None, room_id):
                self._failures.remove(f)
                body: dict[str, Any] = {"errcode": f.errcode, "error": f"{what} refused"}
                if f.retry_after_ms is not None:
                    body["retry_after_ms"] = f.retry_after_ms
                return web.json_response(body, status=f.status)
        return None

    def _authorised(self, request: web.Request) -> bool:
        self.requests.append(f"{request.method} {request.path}")
        return request.headers.get("Authorization") == f"Bearer {TOKEN}"

    @staticmethod
    def _unauthorised() -> web.Response:
        return web.json_response({"errcode": "M_UNKNOWN_TOKEN", "error": "bad token"}, status=401)

    # ------------------------------------------------------------ endpoints

    async def _versions(self, _: web.Request) -> web.Response:
        return web.json_response({"versions": ["v1.1", "v1.2", "v1.3"]})

    async def _login(self, request: web.Request) -> web.Response:
        body = await request.json()
        if body.get("password") != "secret":
            return web.json_response(
                {"errcode": "M_FORBIDDEN", "error": "bad password"}, status=403
            )
        return web.json_response({"user_id": BOT, "access_token": TOKEN, "device_id": "DEV1"})

    async def _encryption(self, request: web.Request) -> web.Response:
        if not self._authorised(request):
            return self._unauthorised()
        room = self.rooms.get(request.match_info["room"])
        if room is None or not room.encrypted:
            return web.json_response({"errcode": "M_NOT_FOUND", "error": "none"}, status=404)
        return web.json_response({"algorithm": "m.megolm.v1.aes-sha2"})

    async def _keys_upload(self, request: web.Request) -> web.Response:
        if not self._authorised(request):
            return self._unauthorised()
        return web.json_response({"one_time_key_counts": {"signed_curve25519": 50}})

    async def _keys_query(self, request: web.Request) -> web.Response:
        if not self._authorised(request):
            return self._unauthorised()
        return web.json_response({"device_keys": {}, "failures": {}})

    async def _whoami(self, request: web.Request) -> web.Response:
        if not self._authorised(request):
            return self._unauthorised()
        return web.json_response({"user_id": BOT, "device_id": "DEV1"})

    async def _sync(self, request: web.Request) -> web.Response:
        if not self._authorised(request):
            return self._unauthorised()
        since = request.query.get("since")
        self.syncs.append(since)
        failed = self._failure("sync")
        if failed is not None:
            return failed
        after = int(since[1:]) if since else 0
        timeout = int(request.query.get("timeout", "0")) / 1000
        if since and self.head <= after and timeout:
            async with self._changed:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(
                        self._changed.wait_for(lambda: self.head > after), timeout
                    )
        head = self.head
        limit = self._timeline_limit(request.query.get("filter"))
        join: dict[str, Any] = {}
        invite: dict[str, Any] = {}
        timelines: dict[str, list[tuple[int, dict[str, Any]]]] = {}
        for pos, room_id, event in self._stream:
            if pos <= after or pos > head:
                continue
            room = self.rooms[room_id]
            if event is None:
                if BOT in room.invited:
                    invite[room_id] = {"invite_state": {"events": self._invite_state(room)}}
                continue
            if BOT not in room.members:
                continue
            timelines.setdefault(room_id, []).append((pos, event))
        for room_id, events in timelines.items():
            kept = events[-limit:]  # the newest `limit`; the rest is the gap (`limited`)
            join[room_id] = {
                "timeline": {
                    "events": [e for _, e in kept],
                    "limited": len(kept) < len(events),
                    "prev_batch": f"s{kept[0][0] - 1}",
                }
            }
        return web.json_response(
            {"next_batch": f"s{head}", "rooms": {"join": join, "invite": invite}}
        )

    def _timeline_limit(self, raw: str | None) -> int:
        """The filter's room timeline limit (Synapse's 10 without one), within `timeline_cap`."""
        self.filters.append(raw)
        limit = DEFAULT_TIMELINE_LIMIT
        if raw:
            wanted = json.loads(raw).get("room", {}).get("timeline", {}).get("limit")
            limit = int(wanted) if wanted else limit
        return min(limit, self.timeline_cap) if self.timeline_cap else limit

    async def _messages(self, request: web.Request) -> web.Response:
        """`/messages`, backwards only: the room's events after `to` and up to `from`, newest
        first, `limit` at most; `end` is where the next page starts."""
        if not self._authorised(request):
            return self._unauthorised()
        failed = self._failure("messages")
        if failed is not None:
            return failed
        room_id = request.match_info["room"]
        q = request.query
        assert q.get("dir") == "b", "the fake pages backwards only"
        start = int(q["from"][1:])
        stop = int(q["to"][1:]) if q.get("to") else 0
        limit = int(q.get("limit", "10"))
        found = [
            (pos, event)
            for pos, rid, event in self._stream
            if rid == room_id and event is not None and stop < pos <= start
        ][::-1][:limit]
        body: dict[str, Any] = {"chunk": [e for _, e in found], "start": q["from"]}
        if found:
            body["end"] = f"s{found[-1][0] - 1}"
        return web.json_response(body)

    async def _joined_members(self, request: web.Request) -> web.Response:
        if not self._authorised(request):
            return self._unauthorised()
        room = self.rooms.get(request.match_info["room"])
        if room is None or BOT not in room.members:
            return web.json_response({"errcode": "M_FORBIDDEN", "error": "not in room"}, status=403)
        return web.json_response({"joined": {m: {} for m in sorted(room.members)}})

    async def _invite(self, request: web.Request) -> web.Response:
        if not self._authorised(request):
            return self._unauthorised()
        room = self.rooms.get(request.match_info["room"])
        user = (await request.json()).get("user_id")
        if room is None or BOT not in room.members or not isinstance(user, str):
            return web.json_response({"errcode": "M_FORBIDDEN", "error": "cannot"}, status=403)
        if user in room.members:
            return web.json_response(
                {"errcode": "M_FORBIDDEN", "error": "already in the room"}, status=403
            )
        room.invited.add(user)
        return web.json_response({})

    def _invite_state(self, room: Room) -> list[dict[str, Any]]:
        inviter = sorted(room.members)[0]
        state: list[dict[str, Any]] = [
            {
                "type": "m.room.name",
                "state_key": "",
                "sender": inviter,
                "content": {"name": room.name},
            },
            {
                "type": "m.room.member",
                "state_key": BOT,
                "sender": inviter,
                "content": {"membership": "invite", "is_direct": room.direct},
            },
        ]
        if room.encrypted:
            state.append(
                {
                    "type": "m.room.encryption",
                    "state_key": "",
                    "sender": inviter,
                    "content": {"algorithm": "m.megolm.v1.aes-sha2"},
                }
            )
        return state

    async def _join(self, request: web.Request) -> web.Response:
        if not self._authorised(request):
            return self._unauthorised()
        room = self.rooms.get(request.match_info["room"])
        if room is None or BOT not in room.invited | room.members:
            return web.json_response({"errcode": "M_FORBIDDEN", "error": "not invited"}, status=403)
        room.invited.discard(BOT)
        room.members.add(BOT)
        if room.encrypted:  # what a joiner learns from the room's state
            inviter = sorted(room.members - {BOT})[0]
            algorithm = {"algorithm": "m.megolm.v1.aes-sha2"}
            self._event(room.room_id, inviter, "m.room.encryption", algorithm, state_key="")
        return web.json_response({"room_id": room.room_id})

    async def _leave(self, request: web.Request) -> web.Response:
        if not self._authorised(request):
            return self._unauthorised()
        room = self.rooms.get(request.match_info["room"])
        if room is not None:
            room.members.discard(BOT)
            room.invited.discard(BOT)
        return web.json_response({})

    async def _send(self, request: web.Request) -> web.Response:
        if not self._authorised(request):
            return self._unauthorised()
        room_id, txn = request.match_info["room"], request.match_info["txn"]
        room = self.rooms.get(room_id)
        if room is None or BOT not in room.members:
            return web.json_response({"errcode": "M_FORBIDDEN", "error": "not in room"}, status=403)
        failed = self._failure("send", room_id)
        if failed is not None:
            return failed
        if txn in self._txns:  # the spec: the same transaction is the same event
            return web.json_response({"event_id": self._txns[txn]})
        content = json.loads(await request.read())
        event_id = self._event(room_id, BOT, request.match_info["type"], content)
        self._txns[txn] = event_id
        self._sent.append(Sent(room_id, request.match_info["type"], content, event_id))
        if room_id in self._losses:
            self._losses.remove(room_id)
            return web.json_response({"errcode": "M_UNKNOWN", "error": "gateway"}, status=502)
        return web.json_response({"event_id": event_id})

    async def _get_event(self, request: web.Request) -> web.Response:
        if not self._authorised(request):
            return self._unauthorised()
        found = self._events.get(request.match_info["event"])
        if found is None or found[0] != request.match_info["room"]:
            return web.json_response({"errcode": "M_NOT_FOUND", "error": "no event"}, status=404)
        return web.json_response(found[1])

    async def _create_room(self, request: web.Request) -> web.Response:
        if not self._authorised(request):
            return self._unauthorised()
        failed = self._failure("createRoom")
        if failed is not None:
            return failed
        body = await request.json()
        room_id = f"!r{next(self._ids)}:{SERVER}"
        invited = list(body.get("invite", []))
        # The invited person accepts at once (a person's client would, for a DM they expect),
        # unless the test says people take their time (`accept_invites`, then `join`).
        joined, waiting = (invited, []) if self.accept_invites else ([], invited)
        room = Room(
            room_id,
            body.get("name") or room_id,
            {BOT, *joined},
            set(waiting),
            False,
            bool(body.get("is_direct")),
            created=body,
        )
        self.rooms[room_id] = room
        return web.json_response({"room_id": room_id})
