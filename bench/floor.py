"""The fair floor of a sighting: the very statements Taskforce runs, with the raw driver.

A `/tf sighting S-1 at "…" --grade B2` from a linked Slack channel runs these statements in
one transaction (captured from Taskforce itself on PostgreSQL, psycopg's SQL text and
parameter names kept as they were sent; SQLite gets the same text with `:name` parameters):

1. the actor with the channel's link, its operation and the role (one join);
2. the subject by its operation and number;
3. the reader's TLP:RED items and the operation members' agencies (one `UNION ALL`);
4. the subject's active notices;
5. the operation's sighting number (`UPDATE … RETURNING`);
6. the sighting (`INSERT … RETURNING id`);
7. the operation's linked channels;
8. the channel post into the outbox (its JSON payload);
9. the operation's audit chain: count and head, the new head, the entry;
10. the processed-event key with the reply (JSON).

What the floor leaves out is everything that is not the database: parsing, permissions,
the disclosure rule, rendering, the ORM. `SqliteFloor` runs them with `sqlite3` in one
`BEGIN IMMEDIATE … COMMIT`; `PgFloor` with psycopg's async connection, every statement
prepared on the server (`prepare_threshold=0`) and independent statements pipelined (five
round trips where Taskforce takes about eight) — the fastest the same work can be done.
"""

from __future__ import annotations

import hashlib
import json
import re
import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
from psycopg.types.json import Json

ACTOR = (
    'SELECT identity.id, identity.member_id, identity.platform, identity."key", '
    "identity.display_name, identity.can_dm, identity.created_at, member.id AS id_1, "
    "member.name, member.agency_id, member.timezone, member.language, member.is_admin, "
    "member.created_at AS created_at_1, agency.timezone AS timezone_1, channellink.id AS id_2, "
    "channellink.operation_id, channellink.platform AS platform_1, channellink.channel_key, "
    "channellink.channel_name, channellink.is_group, channellink.max_tlp, channellink.agencies, "
    "channellink.linked_by, channellink.linked_at, link_op.id AS id_3, link_op.code, "
    "link_op.name AS name_1, link_op.countries, link_op.tlp, link_op.timezone AS timezone_2, "
    "link_op.status, link_op.created_by, link_op.created_at AS created_at_2, link_op.closed_at, "
    "link_op.intent, link_op.retention_months, link_op.subject_seq, link_op.notice_seq, "
    "link_op.sighting_seq, link_op.raid_seq, link_ms.role, agency.language AS language_1 "
    "FROM identity JOIN member ON member.id = identity.member_id "
    "LEFT OUTER JOIN agency ON agency.id = member.agency_id "
    "LEFT OUTER JOIN channellink ON channellink.platform = %(channel_platform)s::VARCHAR "
    "AND channellink.channel_key = %(channel_key)s::VARCHAR "
    "LEFT OUTER JOIN operation AS link_op ON link_op.id = channellink.operation_id "
    "LEFT OUTER JOIN membership AS link_ms ON link_ms.operation_id = channellink.operation_id "
    "AND link_ms.member_id = member.id "
    'WHERE identity.platform = %(platform)s::VARCHAR AND identity."key" = %(key)s::VARCHAR'
)
SUBJECT = (
    "SELECT subject.id, subject.operation_id, subject.seq, subject.kind, subject.name, "
    "subject.category, subject.aliases, subject.nationality, subject.dob, subject.sex, "
    "subject.description, subject.tlp, subject.review_at, subject.created_by, "
    "subject.created_at, subject.protection_lifted_at, subject.protection_lifted_by, "
    "subject.protection_reason, subject.erased_at, subject.erased_by, subject.erase_reason, "
    "subject.place_kind FROM subject "
    "WHERE subject.operation_id = %(op_id)s::INTEGER AND subject.seq = %(seq)s::INTEGER"
)
READER = (
    "SELECT recipient.kind, recipient.item_id, CAST(NULL AS VARCHAR) AS code FROM recipient "
    "WHERE recipient.operation_id = %(op_id)s::INTEGER "
    "AND recipient.member_id = %(member_id)s::INTEGER "
    "UNION ALL SELECT CAST(%(param_1)s::VARCHAR AS VARCHAR) AS anon_1, member.id, "
    "agency.code AS code FROM membership JOIN member ON member.id = membership.member_id "
    "JOIN agency ON agency.id = member.agency_id "
    "WHERE membership.operation_id = %(op_id)s::INTEGER"
)
NOTICES = (
    "SELECT notice.id, notice.colour FROM notice "
    "WHERE notice.subject_id = %(subject_id)s::INTEGER AND notice.status = %(status_1)s::VARCHAR "
    "AND notice.expires_at > %(now)s::TIMESTAMP WITHOUT TIME ZONE "
    "AND (notice.colour = %(colour_1)s::VARCHAR OR notice.colour = %(colour_2)s::VARCHAR) "
    "ORDER BY notice.recorded_at DESC"
)
NEXT_SEQ = (
    "UPDATE operation SET sighting_seq=(operation.sighting_seq + %(sighting_seq_1)s::INTEGER) "
    "WHERE operation.id = %(op_id)s::INTEGER RETURNING operation.sighting_seq"
)
_SIGHTING_COLUMNS = (
    ("operation_id", "INTEGER"),
    ("seq", "INTEGER"),
    ("subject_id", "INTEGER"),
    ("description", "VARCHAR"),
    ("location", "VARCHAR"),
    ("lat", ""),
    ("lon", ""),
    ("observed_at", "TIMESTAMP WITHOUT TIME ZONE"),
    ("reported_at", "TIMESTAMP WITHOUT TIME ZONE"),
    ("grade", "VARCHAR"),
    ("reporter_grade", "VARCHAR"),
    ("graded_by", "INTEGER"),
    ("graded_at", "TIMESTAMP WITHOUT TIME ZONE"),
    ("activity", "VARCHAR"),
    ("direction", "VARCHAR"),
    ("count", "VARCHAR"),
    ("equipment", "VARCHAR"),
    ("tlp", "VARCHAR"),
    ("note", "VARCHAR"),
    ("observer", "VARCHAR"),
    ("reporter_id", "INTEGER"),
    ("match_notice_id", "INTEGER"),
    ("cell", "BIGINT"),
    ("review_at", "TIMESTAMP WITHOUT TIME ZONE"),
    ("erased_at", "TIMESTAMP WITHOUT TIME ZONE"),
    ("erased_by", "INTEGER"),
    ("erase_reason", "VARCHAR"),
    ("place_kind", "VARCHAR"),
)
INSERT_SIGHTING = (
    "INSERT INTO sighting ("
    + ", ".join(name for name, _ in _SIGHTING_COLUMNS)
    + ") VALUES ("
    + ", ".join(f"%({n})s::{t}" if t else f"%({n})s" for n, t in _SIGHTING_COLUMNS)
    + ") RETURNING sighting.id"
)
LINKS = (
    "SELECT channellink.id FROM channellink "
    "WHERE channellink.operation_id = %(op_id)s::INTEGER ORDER BY channellink.id"
)
OUTBOX = (
    "INSERT INTO outboxmessage (operation_id, platform, channel_key, kind, object_ref, tlp, "
    "payload, status, attempts, next_attempt_at, created_at) VALUES "
    "(%(operation_id)s::INTEGER, %(platform)s::VARCHAR, %(channel_key)s::VARCHAR, "
    "%(kind)s::VARCHAR, %(object_ref)s::VARCHAR, %(tlp)s::VARCHAR, %(payload)s::JSON, "
    "%(status)s::VARCHAR, %(attempts)s::INTEGER, "
    "%(next_attempt_at)s::TIMESTAMP WITHOUT TIME ZONE, "
    "%(created_at)s::TIMESTAMP WITHOUT TIME ZONE) RETURNING outboxmessage.id"
)
CHAIN_NEXT = (
    "UPDATE auditchain SET entries = entries + %(n)s WHERE chain = %(chain)s "
    "RETURNING entries, head"
)
CHAIN_HEAD = "UPDATE auditchain SET head = %(head)s WHERE chain = %(chain)s"
AUDIT = (
    "INSERT INTO auditentry (chain, chain_seq, at, actor_id, actor, operation_id, action, "
    "command, object_ref, channel, reason, outcome, prev_hash, hash, key_id) VALUES "
    "(%(chain)s::INTEGER, %(chain_seq)s::INTEGER, %(at)s::TIMESTAMP WITHOUT TIME ZONE, "
    "%(actor_id)s::INTEGER, %(actor)s::VARCHAR, %(operation_id)s::INTEGER, %(action)s::VARCHAR, "
    "%(command)s::VARCHAR, %(object_ref)s::VARCHAR, %(channel)s::VARCHAR, %(reason)s::VARCHAR, "
    "%(outcome)s::VARCHAR, %(prev_hash)s::VARCHAR, %(hash)s::VARCHAR, %(key_id)s::VARCHAR) "
    "RETURNING auditentry.id"
)
PROCESSED = (
    "INSERT INTO processedevent (platform, event_key, reply, created_at) VALUES "
    "(%(platform)s::VARCHAR, %(event_key)s::VARCHAR, %(reply)s::JSON, "
    "%(created_at)s::TIMESTAMP WITHOUT TIME ZONE) RETURNING processedevent.id"
)

_PARAM = re.compile(r"%\((\w+)\)s(?:::[A-Z]+(?: WITHOUT TIME ZONE)?)?")


def sqlite_sql(pg_sql: str) -> str:
    """The same statement for sqlite3: `:name` parameters, no casts."""
    return _PARAM.sub(r":\1", pg_sql)


@dataclass(frozen=True)
class Sighting:
    """What one request carries: who, where, the text's place and note, its event key."""

    team_user: str
    channel: str
    location: str
    note: str
    event_key: str


@dataclass(frozen=True)
class Recorded:
    """What the floor answers: the sighting's number and the reply's text."""

    seq: int
    text: str


def _payload(code: str, seq: int, s: Sighting, now: datetime) -> dict[str, Any]:
    # About the size of Taskforce's neutral message for the channel post and the reply.
    return {
        "title": f"Sighting SG-{seq} — S-1 Ivan Petrov",
        "lines": [
            f"Seen: {now:%a %d %b %Y %H:%M} UTC",
            f"Where: {s.location}",
            "Grade: B2 (usually reliable, probably true)",
            f"Note: {s.note}",
        ],
        "tlp": "amber",
        "mark": None,
        "fields": [["Operation", code], ["Reported by", "bench"]],
        "buttons": [],
    }


def _reply_text(seq: int, s: Sighting, now: datetime) -> str:
    return (
        f"Recorded Sighting SG-{seq} — S-1 Ivan Petrov\n"
        f"Seen: {now:%a %d %b %Y %H:%M} UTC\nWhere: {s.location}"
    )


def _digest(head: str | None, at: datetime, count: int, ref: str) -> str:
    body = json.dumps({"prev": head, "at": at.isoformat(), "seq": count, "ref": ref})
    return hashlib.sha256(body.encode()).hexdigest()


def _sighting_values(
    op_id: int, seq: int, subject_id: int, member_id: int, s: Sighting, now: datetime
) -> dict[str, Any]:
    values: dict[str, Any] = {name: None for name, _ in _SIGHTING_COLUMNS}
    values.update(
        operation_id=op_id,
        seq=seq,
        subject_id=subject_id,
        location=s.location,
        observed_at=now,
        reported_at=now,
        reporter_grade="B2",
        tlp="amber",
        note=s.note,
        reporter_id=member_id,
        review_at=now + timedelta(days=365),
    )
    return values


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


# ----------------------------------------------------------------------------- SQLite


class SqliteFloor:
    """The statements on one `sqlite3` connection (the Store's pragmas), one transaction."""

    def __init__(self, path: str) -> None:
        self.conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        for pragma in (
            "journal_mode=WAL",
            "busy_timeout=5000",
            "foreign_keys=ON",
            "synchronous=NORMAL",
        ):
            self.conn.execute(f"PRAGMA {pragma}")
        self.sql = {name: sqlite_sql(text) for name, text in _ALL.items()}

    def close(self) -> None:
        """Close the connection."""
        self.conn.close()

    def sighting(self, s: Sighting) -> Recorded:
        """One sighting, `BEGIN IMMEDIATE` to `COMMIT`."""
        q, c = self.sql, self.conn
        now = _now()
        stamp = now.strftime("%Y-%m-%d %H:%M:%S.%f")
        c.execute("BEGIN IMMEDIATE")
        try:
            actor = c.execute(
                q["actor"],
                {
                    "channel_platform": "slack",
                    "channel_key": s.channel,
                    "platform": "slack",
                    "key": s.team_user,
                },
            ).fetchone()
            member_id, op_id, code = actor[1], actor[25], actor[26]
            subject = c.execute(q["subject"], {"op_id": op_id, "seq": 1}).fetchone()
            c.execute(
                q["reader"], {"op_id": op_id, "member_id": member_id, "param_1": "agency"}
            ).fetchall()
            c.execute(
                q["notices"],
                {
                    "subject_id": subject[0],
                    "status_1": "active",
                    "now": stamp,
                    "colour_1": "red",
                    "colour_2": "yellow",
                },
            ).fetchall()
            seq = c.execute(q["next_seq"], {"sighting_seq_1": 1, "op_id": op_id}).fetchone()[0]
            values = _sighting_values(op_id, seq, subject[0], member_id, s, now)
            for key in ("observed_at", "reported_at", "review_at"):
                values[key] = values[key].strftime("%Y-%m-%d %H:%M:%S.%f")
            c.execute(q["insert_sighting"], values).fetchone()
            links = c.execute(q["links"], {"op_id": op_id}).fetchall()
            ref = f"{code}/SG-{seq}"
            payload = json.dumps(_payload(code, seq, s, now))
            for _link in links:
                c.execute(
                    q["outbox"],
                    {
                        "operation_id": op_id,
                        "platform": "slack",
                        "channel_key": s.channel,
                        "kind": "sighting",
                        "object_ref": ref,
                        "tlp": "amber",
                        "payload": payload,
                        "status": "pending",
                        "attempts": 0,
                        "next_attempt_at": stamp,
                        "created_at": stamp,
                    },
                ).fetchone()
            count, head = c.execute(q["chain_next"], {"n": 1, "chain": op_id}).fetchone()
            digest = _digest(head, now, count, ref)
            c.execute(q["chain_head"], {"head": digest, "chain": op_id})
            c.execute(
                q["audit"], _audit_values(op_id, count, now, member_id, ref, s, head, digest, stamp)
            ).fetchone()
            text = _reply_text(seq, s, now)
            c.execute(
                q["processed"],
                {
                    "platform": "slack",
                    "event_key": s.event_key,
                    "reply": json.dumps({"message": {"title": text}}),
                    "created_at": stamp,
                },
            ).fetchone()
            c.execute("COMMIT")
        except BaseException:
            c.execute("ROLLBACK")
            raise
        return Recorded(seq, text)


def _audit_values(
    op_id: int,
    count: int,
    now: Any,
    member_id: int,
    ref: str,
    s: Sighting,
    head: str | None,
    digest: str,
    stamp: str | None = None,
) -> dict[str, Any]:
    return {
        "chain": op_id,
        "chain_seq": count,
        "at": stamp or now,
        "actor_id": member_id,
        "actor": f"bench (slack:{s.team_user})",
        "operation_id": op_id,
        "action": "collect",
        "command": "sighting",
        "object_ref": ref,
        "channel": f"slack:{s.channel}",
        "reason": None,
        "outcome": "ok",
        "prev_hash": head,
        "hash": digest,
        "key_id": None,
    }


_ALL = {
    "actor": ACTOR,
    "subject": SUBJECT,
    "reader": READER,
    "notices": NOTICES,
    "next_seq": NEXT_SEQ,
    "insert_sighting": INSERT_SIGHTING,
    "links": LINKS,
    "outbox": OUTBOX,
    "chain_next": CHAIN_NEXT,
    "chain_head": CHAIN_HEAD,
    "audit": AUDIT,
    "processed": PROCESSED,
}


# -------------------------------------------------------------------------- PostgreSQL


async def pg_connect(url: str) -> psycopg.AsyncConnection[Any]:
    """An async psycopg connection that prepares every statement on the server."""
    conn = await psycopg.AsyncConnection.connect(url, prepare_threshold=0)
    return conn


async def pg_sighting(conn: psycopg.AsyncConnection[Any], s: Sighting) -> Recorded:
    """One sighting in one transaction: prepared statements, pipelined where independent.

    Round trips: actor; subject + reader; notices + sequence + links; sighting + outbox +
    audit chain; head + entry + processed key + COMMIT.
    """
    now = _now()
    async with conn.transaction():
        async with conn.cursor() as cur:
            await cur.execute(
                ACTOR,
                {
                    "channel_platform": "slack",
                    "channel_key": s.channel,
                    "platform": "slack",
                    "key": s.team_user,
                },
            )
            actor = await cur.fetchone()
            assert actor is not None
            member_id, op_id, code = actor[1], actor[25], actor[26]
        async with conn.pipeline():
            c1, c2 = conn.cursor(), conn.cursor()
            await c1.execute(SUBJECT, {"op_id": op_id, "seq": 1})
            await c2.execute(READER, {"op_id": op_id, "member_id": member_id, "param_1": "agency"})
        subject = await c1.fetchone()
        await c2.fetchall()
        assert subject is not None
        async with conn.pipeline():
            c3, c4, c5 = conn.cursor(), conn.cursor(), conn.cursor()
            await c3.execute(
                NOTICES,
                {
                    "subject_id": subject[0],
                    "status_1": "active",
                    "now": now,
                    "colour_1": "red",
                    "colour_2": "yellow",
                },
            )
            await c4.execute(NEXT_SEQ, {"sighting_seq_1": 1, "op_id": op_id})
            await c5.execute(LINKS, {"op_id": op_id})
        await c3.fetchall()
        seq_row = await c4.fetchone()
        links = await c5.fetchall()
        assert seq_row is not None
        seq = seq_row[0]
        ref = f"{code}/SG-{seq}"
        payload = Json(_payload(code, seq, s, now))
        async with conn.pipeline():
            c6, c7 = conn.cursor(), conn.cursor()
            await c6.execute(
                INSERT_SIGHTING, _sighting_values(op_id, seq, subject[0], member_id, s, now)
            )
            for _link in links:
                await conn.execute(
                    OUTBOX,
                    {
                        "operation_id": op_id,
                        "platform": "slack",
                        "channel_key": s.channel,
                        "kind": "sighting",
                        "object_ref": ref,
                        "tlp": "amber",
                        "payload": payload,
                        "status": "pending",
                        "attempts": 0,
                        "next_attempt_at": now,
                        "created_at": now,
                    },
                )
            await c7.execute(CHAIN_NEXT, {"n": 1, "chain": op_id})
        chain = await c7.fetchone()
        assert chain is not None
        count, head = chain
        digest = _digest(head, now, count, ref)
        text = _reply_text(seq, s, now)
        async with conn.pipeline():
            await conn.execute(CHAIN_HEAD, {"head": digest, "chain": op_id})
            await conn.execute(
                AUDIT, _audit_values(op_id, count, now, member_id, ref, s, head, digest)
            )
            await conn.execute(
                PROCESSED,
                {
                    "platform": "slack",
                    "event_key": s.event_key,
                    "reply": Json({"message": {"title": text}}),
                    "created_at": now,
                },
            )
    return Recorded(seq, text)
