"""SQLAlchemy tables of the case store (typed `Mapped[]` columns).

The audit log is the store's only truth: `audit_entries` holds every entry, and
SQLite triggers refuse UPDATE and DELETE on it (see `db.py`; `verify` catches anyone
who drops them). `cases` is only the index that finds a case's log: its UID, the number
users type (unique, so two cases cannot share one), and the head hash and length of
its chain, kept apart from the chain so that entries cut from the end show up. Titles,
sketches, inversions and matches are replayed from the log (see `projection.py`).
"""

from __future__ import annotations

from sqlalchemy import ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

# 1: mirror tables beside the log; 2: the log alone (migrated in db.py, after a backup)
SCHEMA_VERSION = 2


class Base(DeclarativeBase):
    pass


class CaseRow(Base):
    __tablename__ = "cases"

    id: Mapped[int] = mapped_column(primary_key=True)
    uid: Mapped[str] = mapped_column(String(36), unique=True)
    number: Mapped[str] = mapped_column(String(64), unique=True)
    audit_count: Mapped[int] = mapped_column(Integer, default=0)
    audit_head: Mapped[str] = mapped_column(String(64), default="")

    entries: Mapped[list[AuditRow]] = relationship(
        back_populates="case", order_by="AuditRow.seq", cascade="all, delete-orphan")


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
