"""The command path's hot reads of whole entities, run at the driver (`bot.store.fastsql`).

Every command reads its actor, the channel's link and operation, and often a subject. Run
as ORM queries, each costs the ORM's statement set-up and row loading (and on PostgreSQL
a greenlet switch and psycopg's column descriptions), several times what the database
itself takes. An `EntityRows` is a Core SELECT of the entities' columns, built once and run
as a `Prepared` statement; each entity in a row comes back **persistent in the session**,
as the ORM would have loaded it: in the identity map (an object already there is returned
as it is, pending changes and all, as a query would), clean, every column loaded. A handler
that changes one flushes an UPDATE as usual. `fresh` makes a new entity for a row a Core
INSERT writes, without the ORM's bookkeeping.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import sqlalchemy as sa
import structlog
from sqlalchemy.orm import Mapper, Session, make_transient_to_detached
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.selectable import FromClause, Select
from sqlmodel import SQLModel
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.store.fastsql import Prepared

_Model = TypeVar("_Model", bound=SQLModel)
log = structlog.get_logger(__name__)

# An entity of the row (its class, read from its table or from an alias of it), or a column.
Part = type[SQLModel] | tuple[type[SQLModel], FromClause] | ColumnElement[Any]


@dataclass(frozen=True)
class _Entity:
    """Where one entity sits in the row, and how to make it."""

    mapper: Mapper[Any]
    keys: tuple[str, ...]
    start: int
    pk: int  # the primary key's offset in the row: None there means no entity (outer join)


class EntityRows:
    """A SELECT of entities and columns (`layout`), its joins and filter given by `build`.

    `build` receives the selected columns in layout order and returns the statement:
    `EntityRows([Identity, Member], lambda cols: select(*cols).join(...).where(...))`.
    """

    def __init__(self, layout: Sequence[Part], build: Callable[[list[Any]], Select[Any]]) -> None:
        columns: list[Any] = []
        slots: list[_Entity | int] = []
        for part in layout:
            if isinstance(part, ColumnElement):
                slots.append(len(columns))
                columns.append(part)
                continue
            cls, table = part if isinstance(part, tuple) else (part, part.__table__)  # type: ignore[attr-defined]
            mapper: Mapper[Any] = sa.inspect(cls)
            (pk_column,) = mapper.primary_key
            props = list(mapper.column_attrs)
            keys = tuple(prop.key for prop in props)
            names = [str(prop.columns[0].key) for prop in props]
            start = len(columns)
            columns.extend(table.c[name] for name in names)
            pk = start + names.index(str(pk_column.key))
            slots.append(_Entity(mapper, keys, start, pk))
        self._slots = tuple(slots)
        self.prepared = Prepared(build(columns))

    async def all(
        self, session: AsyncSession, params: Mapping[str, Any] | None = None
    ) -> list[tuple[Any, ...]]:
        """Every row: entities (persistent in `session`, None for a missing outer join)
        and columns, in layout order."""
        rows = await self.prepared.rows(session, params)
        sync = session.sync_session
        if not _PUBLIC_ONLY:
            try:
                return [self._shape(sync, row) for row in rows]
            except AttributeError as exc:
                _use_public_path(exc)
        return [await self._shape_public(session, row) for row in rows]

    async def first(
        self, session: AsyncSession, params: Mapping[str, Any] | None = None
    ) -> tuple[Any, ...] | None:
        """The first row, or None."""
        rows = await self.all(session, params)
        return rows[0] if rows else None

    def _shape(self, session: Session, row: Sequence[Any]) -> tuple[Any, ...]:
        out: list[Any] = []
        for slot in self._slots:
            if isinstance(slot, int):
                out.append(row[slot])
            else:
                out.append(_persistent(session, slot, row))
        return tuple(out)


    async def _shape_public(self, session: AsyncSession, row: Sequence[Any]) -> tuple[Any, ...]:
        """`_shape` through the public API: each entity by `session.get` (the identity map
        first, else one query). Slower; used once SQLAlchemy's internals read here change."""
        out: list[Any] = []
        for slot in self._slots:
            if isinstance(slot, int):
                out.append(row[slot])
            elif row[slot.pk] is None:
                out.append(None)
            else:
                out.append(await session.get(slot.mapper.class_, row[slot.pk]))
        return tuple(out)


_PUBLIC_ONLY: list[str] = []  # why the ORM internals are not used in this process


def _use_public_path(exc: Exception) -> None:
    _PUBLIC_ONLY.append(f"{type(exc).__name__}: {exc}")
    log.warning(
        "entityrows_public_path",
        reason=_PUBLIC_ONLY[0],
        sqlalchemy=sa.__version__,
        effect="entities are loaded through SQLAlchemy's public API (slower, correct)",
    )


def _persistent(session: Session, entity: _Entity, row: Sequence[Any]) -> Any:
    """The entity of `row` as the session's persistent object (the one it has already, if
    any, as an ORM query returns it)."""
    pk = row[entity.pk]
    if pk is None:
        return None
    mapper = entity.mapper
    identity = mapper.identity_key_from_primary_key((pk,))
    known = session.identity_map.get(identity)
    if known is not None:
        return known
    obj = mapper.class_manager.new_instance()
    values = row[entity.start : entity.start + len(entity.keys)]
    obj.__dict__.update(zip(entity.keys, values, strict=True))
    make_transient_to_detached(obj)  # as loaded: no history, its identity key set
    session.add(obj)
    return obj


_DEFAULTS: dict[type[SQLModel], tuple[tuple[str, Any], ...]] = {}


def fresh(cls: type[_Model], **values: Any) -> _Model:
    """A new entity, as `cls(**values)` makes it (field defaults included), for a row that
    a Core INSERT writes: never added to a session.

    SQLModel's constructor sets every field through SQLAlchemy's instrumentation, recording
    history that only matters to a session (a fifth of a sighting's command time).
    """
    if _PUBLIC_ONLY:
        return cls(**values)
    try:
        return _fresh(cls, values)
    except AttributeError as exc:
        _use_public_path(exc)
        return cls(**values)


def _fresh(cls: type[_Model], values: dict[str, Any]) -> _Model:
    defaults = _DEFAULTS.get(cls)
    if defaults is None:
        defaults = tuple(
            (name, field) for name, field in cls.model_fields.items() if not field.is_required()
        )
        _DEFAULTS[cls] = defaults
    mapper: Mapper[Any] = sa.inspect(cls)
    obj = mapper.class_manager.new_instance()
    state = obj.__dict__
    for name, field in defaults:
        if name not in values:
            state[name] = field.get_default(call_default_factory=True)
    state.update(values)
    object.__setattr__(obj, "__pydantic_fields_set__", set(values))
    return obj
