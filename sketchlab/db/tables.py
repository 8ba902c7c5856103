"""The gallery schema: subjects, their photos, and one face descriptor per photo and model.

Typed SQLAlchemy 2.0 table classes (named "tables": SketchLab's models are its networks).
The schema itself is owned by the Alembic migrations in sketchlab/db/migrations; these
classes must match the newest revision (a test checks that `alembic check` finds nothing to
autogenerate). ORM objects never leave a session: sketchlab.db.gallery hands out plain
dataclasses instead.
"""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
from sqlalchemy import (
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.types import TypeEngine

from sketchlab.core.matching import EMBEDDING_DIM


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes on every backend (SQLite would hand back naive ones)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: object) -> datetime | None:
        if value is not None and value.tzinfo is not None:
            value = value.astimezone(UTC)
        return value

    def process_result_value(self, value: datetime | None, dialect: object
                             ) -> datetime | None:
        if value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value


class Descriptor(TypeDecorator[bytes]):
    """A face descriptor as float32 little-endian bytes in Python on every backend.

    Stored as a BLOB on SQLite (searched in memory, sketchlab.db.search) and as a pgvector
    `vector(128)` on PostgreSQL, so the server searches it with an HNSW index.
    """

    impl = LargeBinary
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[object]:
        if dialect.name == "postgresql":
            from pgvector.sqlalchemy import VECTOR

            return dialect.type_descriptor(VECTOR(EMBEDDING_DIM))
        return dialect.type_descriptor(LargeBinary())

    def process_bind_param(self, value: bytes | None, dialect: Dialect) -> object:
        if value is not None and dialect.name == "postgresql":
            return np.frombuffer(value, "<f4")
        return value

    def process_result_value(self, value: object, dialect: Dialect) -> bytes | None:
        if value is not None and dialect.name == "postgresql":
            return np.asarray(value, "<f4").tobytes()
        return value  # type: ignore[return-value]


# The server-side search index (PostgreSQL only; migrations 0002 and 0003). m 32 and
# ef_construction 128 instead of pgvector's 16 / 64: higher recall at 1M faces for a slower
# build and a bigger index (docs/decisions.md, "pgvector HNSW").
HNSW_INDEX = "ix_embedding_vector_hnsw"
HNSW_PARAMS = {"m": 32, "ef_construction": 128}


def autogenerate_filter(dialect_name: str):  # -> alembic include_object callable
    """Alembic ignores `ddl_if`: skip the PostgreSQL-only index when comparing elsewhere."""

    def include(obj: object, name: str | None, type_: str, reflected: bool,
                compare_to: object) -> bool:
        return not (type_ == "index" and name == HNSW_INDEX and dialect_name != "postgresql")

    return include


class Base(DeclarativeBase):
    pass


class Subject(Base):
    """A person in the gallery. `name` is for display; `external_ref` is the lab's own id
    (booking number, case reference) when there is one."""

    __tablename__ = "subject"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(255), index=True)
    external_ref: Mapped[str | None] = mapped_column(String(255), unique=True)
    notes: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    photos: Mapped[list[Photo]] = relationship(back_populates="subject",
                                               cascade="all, delete-orphan",
                                               passive_deletes=True)


class Photo(Base):
    """One enrolled image, identified by the SHA-256 of its file bytes (the dedupe key)."""

    __tablename__ = "photo"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    subject_id: Mapped[int] = mapped_column(ForeignKey("subject.id", ondelete="CASCADE"),
                                            index=True)
    sha256: Mapped[str] = mapped_column(String(64), unique=True)
    source_path: Mapped[str] = mapped_column(Text)
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    # A face-centred JPEG, <= THUMB_SIZE px a side, so candidate lists never touch the
    # original files (which may have moved or be on an unmounted share).
    thumbnail: Mapped[bytes] = mapped_column(LargeBinary)
    added_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    subject: Mapped[Subject] = relationship(back_populates="photos")
    embeddings: Mapped[list[Embedding]] = relationship(back_populates="photo",
                                                       cascade="all, delete-orphan",
                                                       passive_deletes=True)


class Embedding(Base):
    """A face descriptor: float32 little-endian bytes, with the model that made it and the
    face box (top, right, bottom, left) in source-image pixels."""

    __tablename__ = "embedding"
    __table_args__ = (UniqueConstraint("photo_id", "model", name="uq_embedding_photo_model"),
                      Index("ix_embedding_model_id", "model", "id"),
                      Index(HNSW_INDEX, "vector", postgresql_using="hnsw",
                            postgresql_ops={"vector": "vector_l2_ops"},
                            postgresql_with=HNSW_PARAMS).ddl_if(dialect="postgresql"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    photo_id: Mapped[int] = mapped_column(ForeignKey("photo.id", ondelete="CASCADE"))
    model: Mapped[str] = mapped_column(String(128))
    model_version: Mapped[str] = mapped_column(String(64))
    dim: Mapped[int] = mapped_column(Integer)
    vector: Mapped[bytes] = mapped_column(Descriptor)
    box_top: Mapped[int] = mapped_column(Integer)
    box_right: Mapped[int] = mapped_column(Integer)
    box_bottom: Mapped[int] = mapped_column(Integer)
    box_left: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    photo: Mapped[Photo] = relationship(back_populates="embeddings")


class GalleryState(Base):
    """One row whose `revision` goes up in every transaction that changes the searchable
    set, so a search index (in any process) can tell with one cheap query that it is stale."""

    __tablename__ = "gallery_state"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    revision: Mapped[int] = mapped_column(Integer, default=0)
