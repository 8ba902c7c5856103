"""SQLAlchemy tables of the case store (typed `Mapped[]` columns).

Times are kept as the exact UTC ISO strings written in the audit log, so the tables can
be compared with a replay of the log field for field. `audit_entries` is append-only:
SQLite triggers refuse UPDATE and DELETE (see `db.py`), and `verify` catches anyone who
drops them.
"""

from __future__ import annotations

from sqlalchemy import Float, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

SCHEMA_VERSION = 1


class Base(DeclarativeBase):
    pass


class CaseRow(Base):
    __tablename__ = "cases"

    id: Mapped[int] = mapped_column(primary_key=True)
    uid: Mapped[str] = mapped_column(String(36), unique=True)
    number: Mapped[str] = mapped_column(String(64), unique=True)
    title: Mapped[str] = mapped_column(Text, default="")
    artist: Mapped[str] = mapped_column(Text, default="")
    investigator: Mapped[str] = mapped_column(Text, default="")
    witness_description: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[str] = mapped_column(String(16), default="open")
    created_at: Mapped[str] = mapped_column(String(40))
    created_by: Mapped[str] = mapped_column(Text, default="")
    updated_at: Mapped[str] = mapped_column(String(40))
    audit_count: Mapped[int] = mapped_column(Integer, default=0)
    audit_head: Mapped[str] = mapped_column(String(64), default="")

    entries: Mapped[list[AuditRow]] = relationship(
        back_populates="case", order_by="AuditRow.seq", cascade="all, delete-orphan")
    sketches: Mapped[list[SketchRow]] = relationship(
        order_by="SketchRow.version", cascade="all, delete-orphan")
    inversions: Mapped[list[InversionRow]] = relationship(
        order_by="InversionRow.number", cascade="all, delete-orphan")
    matches: Mapped[list[MatchRow]] = relationship(
        order_by="MatchRow.number", cascade="all, delete-orphan")


class AuditRow(Base):
    __tablename__ = "audit_entries"
    __table_args__ = (UniqueConstraint("case_id", "seq"), UniqueConstraint("case_id", "prev_hash"))

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    seq: Mapped[int] = mapped_column(Integer)
    time: Mapped[str] = mapped_column(String(40))
    who: Mapped[str] = mapped_column(Text)
    action: Mapped[str] = mapped_column(String(40))
    details_json: Mapped[str] = mapped_column(Text)
    artefacts_json: Mapped[str] = mapped_column(Text)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64), unique=True)

    case: Mapped[CaseRow] = relationship(back_populates="entries")


class SketchRow(Base):
    __tablename__ = "sketch_versions"
    __table_args__ = (UniqueConstraint("case_id", "version"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    version: Mapped[int] = mapped_column(Integer)
    image_sha256: Mapped[str] = mapped_column(String(64))
    image_type: Mapped[str] = mapped_column(String(40))
    strokes_sha256: Mapped[str | None] = mapped_column(String(64), nullable=True)
    note: Mapped[str] = mapped_column(Text, default="")
    width: Mapped[int | None] = mapped_column(Integer, nullable=True)
    height: Mapped[int | None] = mapped_column(Integer, nullable=True)
    author: Mapped[str] = mapped_column(Text)
    created_at: Mapped[str] = mapped_column(String(40))


class InversionRow(Base):
    __tablename__ = "inversions"
    __table_args__ = (UniqueConstraint("case_id", "number"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    number: Mapped[int] = mapped_column(Integer)
    sketch_version: Mapped[int] = mapped_column(Integer)
    photo_sha256: Mapped[str] = mapped_column(String(64))
    input_sha256: Mapped[str | None] = mapped_column(String(64), nullable=True)
    model_name: Mapped[str] = mapped_column(Text)
    model_sha256: Mapped[str] = mapped_column(String(64))
    settings_json: Mapped[str] = mapped_column(Text)
    device: Mapped[str] = mapped_column(Text)
    ms: Mapped[float | None] = mapped_column(Float, nullable=True)
    author: Mapped[str] = mapped_column(Text)
    created_at: Mapped[str] = mapped_column(String(40))


class MatchRow(Base):
    __tablename__ = "match_runs"
    __table_args__ = (UniqueConstraint("case_id", "number"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    number: Mapped[int] = mapped_column(Integer)
    inversion: Mapped[int | None] = mapped_column(Integer, nullable=True)
    gallery_location: Mapped[str] = mapped_column(Text)
    gallery_fingerprint: Mapped[str] = mapped_column(Text)
    gallery_size: Mapped[int] = mapped_column(Integer)
    threshold: Mapped[float | None] = mapped_column(Float, nullable=True)
    k: Mapped[int | None] = mapped_column(Integer, nullable=True)
    author: Mapped[str] = mapped_column(Text)
    created_at: Mapped[str] = mapped_column(String(40))

    candidates: Mapped[list[CandidateRow]] = relationship(
        order_by="CandidateRow.rank", cascade="all, delete-orphan")


class CandidateRow(Base):
    __tablename__ = "match_candidates"

    id: Mapped[int] = mapped_column(primary_key=True)
    match_id: Mapped[int] = mapped_column(ForeignKey("match_runs.id"), index=True)
    rank: Mapped[int] = mapped_column(Integer)
    subject: Mapped[str] = mapped_column(Text)
    photo_sha256: Mapped[str] = mapped_column(String(64))
    distance: Mapped[float] = mapped_column(Float)
    score: Mapped[float] = mapped_column(Float)
    within_threshold: Mapped[bool]
    thumbnail_sha256: Mapped[str | None] = mapped_column(String(64), nullable=True)
