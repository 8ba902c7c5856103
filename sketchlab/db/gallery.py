"""The gallery API used by the CLI and the desktop app. No Qt; plain dataclasses out.

    from sketchlab.db.gallery import open_gallery
    g = open_gallery()                  # default: SQLite in the user data dir (or $SKETCHLAB_DB)
    g = open_gallery("postgresql+psycopg://lab@server/gallery")   # any SQLAlchemy URL
    summary = g.enroll(["photos/", "more/manifest.csv"], progress=cb, cancel=event)
    g.subjects(); g.photos(subject_id=3); g.stats(); g.thumbnail(sha)
    g.remove_subject(3); g.remove_photo(sha)
    Matcher(g).search(embedding, k=10)   # sketchlab.db.search; see core.pipeline

A Gallery is what `db.search.Matcher` and `db.ann.AnnIndex` read (their `GalleryRows` and
`EmbeddingRows` protocols). The gallery and the search know nothing of each other: the
caller builds the Matcher over the gallery, and keeps it as long as it searches that
gallery (the Matcher holds the index in memory and reloads it only when the gallery
changes).

`open_gallery` migrates the schema to the newest revision (backing up an existing SQLite
file first). A Gallery is thread-safe: every call opens its own short session, and the
objects it returns (SubjectInfo, PhotoInfo, GalleryStats, EnrollSummary, ...) are frozen
or plain dataclasses, never ORM objects, so they can cross threads. `enroll` blocks; run
it on a worker thread and pass `progress` (called on that thread) and a `cancel` Event.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from importlib import metadata
from pathlib import Path

import numpy as np
from sqlalchemy import Float, delete, func, select, text, update
from sqlalchemy.orm import Session

from sketchlab.core import paths
from sketchlab.core.drawn import DRAWN_MODEL, PENCIL, Drawing
from sketchlab.core.embedding_cache import EmbeddingCache
from sketchlab.core.matching import EMBEDDING_DIM, EMBEDDING_MODEL
from sketchlab.db.engine import (
    default_url,
    make_engine,
    migrate,
    normalise_url,
    session_factory,
    session_scope,
    sqlite_path,
)
from sketchlab.db.tables import Embedding, GalleryState, Photo, Subject
from sketchlab.enrol.inputs import EnrollItem, SkippedFile, SubjectRule, iter_items
from sketchlab.enrol.run import (
    DEFAULT_BATCH,
    EnrolledPhoto,
    EnrollSummary,
    ProgressFn,
    drawing_progress,
    run_enrolment,
)

log = logging.getLogger(__name__)

WRITE_LOCK_KEY = 0x5E7C_1AB0  # pg_advisory_xact_lock key shared by every SketchLab writer


def embedding_model_version() -> str:
    """Versions that change the descriptor: the dlib weights package and dlib itself."""
    parts = []
    for dist in ("face_recognition_models", "dlib-bin", "dlib"):
        try:
            parts.append(f"{dist} {metadata.version(dist)}")
        except metadata.PackageNotFoundError:
            continue
        if dist == "dlib-bin":
            break
    return "; ".join(parts)[:64] or "unknown"


@dataclass(frozen=True)
class SubjectInfo:
    id: int
    name: str
    external_ref: str | None
    notes: str
    n_photos: int
    created_at: datetime


@dataclass(frozen=True)
class PhotoInfo:
    id: int
    sha256: str
    subject_id: int
    subject_name: str
    source_path: str
    width: int
    height: int
    added_at: datetime
    box: tuple[int, int, int, int] | None  # (top, right, bottom, left) of the current model


@dataclass(frozen=True)
class GalleryStats:
    url: str
    subjects: int
    photos: int
    embeddings: int  # searchable faces (dlib descriptors)
    models: dict[str, int]  # descriptors by model, drawings (core.drawn) included
    revision: int
    db_bytes: int | None  # SQLite file + WAL, None for servers
    schema: str | None

    @property
    def drawn(self) -> int:
        """Faces drawn by the pencil filter (`core.drawn`); `drawn_by` for another drawing."""
        return self.drawn_by(DRAWN_MODEL)

    def drawn_by(self, drawing: str) -> int:
        """Faces with their descriptor drawn by `drawing` (`core.drawn.Drawing.model`): a
        gallery searches two ways when every face has the model's drawing."""
        return self.models.get(drawing, 0)

    def as_dict(self) -> dict[str, object]:
        return {"url": self.url, "subjects": self.subjects, "photos": self.photos,
                "embeddings": self.embeddings, "drawn": self.drawn, "models": self.models,
                "revision": self.revision, "db_bytes": self.db_bytes, "schema": self.schema}


def _redact(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


class Gallery:
    """One gallery database. Create with `open_gallery`."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = make_engine(url)
        self._sessions = session_factory(self.engine)
        self.on_server = self.engine.dialect.name == "postgresql"  # pgvector searches
        self.backup: Path | None = None  # set by open_gallery when a migration backed up

    def __repr__(self) -> str:
        return f"Gallery({_redact(self.url)!r})"

    def session(self):  # -> contextmanager[Session]
        """session_scope() on this gallery: commits, rolls back on error, closes."""
        return session_scope(self._sessions)

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> Gallery:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------ reading

    def revision(self) -> int:
        with self.session() as s:
            return int(s.scalar(select(GalleryState.revision).where(GalleryState.id == 1)) or 0)

    def subjects(self, name: str | None = None) -> list[SubjectInfo]:
        """All subjects (or those with exactly this name), with their photo counts."""
        counts = (select(Photo.subject_id, func.count(Photo.id).label("n"))
                  .group_by(Photo.subject_id).subquery())
        q = (select(Subject, func.coalesce(counts.c.n, 0))
             .outerjoin(counts, counts.c.subject_id == Subject.id).order_by(Subject.id))
        if name is not None:
            q = q.where(Subject.name == name)
        with self.session() as s:
            return [SubjectInfo(sub.id, sub.name, sub.external_ref, sub.notes, int(n),
                                sub.created_at) for sub, n in s.execute(q)]

    def subject(self, subject_id: int) -> SubjectInfo | None:
        return next((x for x in self.subjects() if x.id == subject_id), None)

    def photos(self, subject_id: int | None = None, model: str = EMBEDDING_MODEL
               ) -> list[PhotoInfo]:
        q = (select(Photo.id, Photo.sha256, Photo.subject_id, Subject.name, Photo.source_path,
                    Photo.width, Photo.height, Photo.added_at, Embedding.box_top,
                    Embedding.box_right, Embedding.box_bottom, Embedding.box_left)
             .join(Subject, Subject.id == Photo.subject_id)
             .outerjoin(Embedding, (Embedding.photo_id == Photo.id) & (Embedding.model == model))
             .order_by(Photo.id))
        if subject_id is not None:
            q = q.where(Photo.subject_id == subject_id)
        with self.session() as s:
            return [PhotoInfo(r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7],
                              None if r[8] is None else (r[8], r[9], r[10], r[11]))
                    for r in s.execute(q)]

    def thumbnail(self, sha256: str) -> bytes | None:
        """The stored face thumbnail (JPEG bytes, <= 128 px a side), None if unknown."""
        with self.session() as s:
            return s.scalar(select(Photo.thumbnail).where(Photo.sha256 == sha256))

    def known_sha256(self, shas: Sequence[str]) -> set[str]:
        out: set[str] = set()
        with self.session() as s:
            for i in range(0, len(shas), 500):
                out.update(s.scalars(select(Photo.sha256)
                                     .where(Photo.sha256.in_(shas[i:i + 500]))))
        return out

    def stats(self) -> GalleryStats:
        from sketchlab.db.engine import current_revision

        with self.session() as s:
            subjects = s.scalar(select(func.count(Subject.id))) or 0
            photos = s.scalar(select(func.count(Photo.id))) or 0
            models = {m: int(n) for m, n in s.execute(
                select(Embedding.model, func.count(Embedding.id)).group_by(Embedding.model))}
            rev = int(s.scalar(select(GalleryState.revision).where(GalleryState.id == 1)) or 0)
        path = sqlite_path(self.url)
        size = None
        if path is not None:
            size = sum(p.stat().st_size for p in (path, Path(f"{path}-wal"))
                       if p.exists())
        return GalleryStats(_redact(self.url), subjects, photos,
                            models.get(EMBEDDING_MODEL, 0), models, rev, size,
                            current_revision(self.engine))

    def count_embeddings(self, model: str = EMBEDDING_MODEL) -> int:
        with self.session() as s:
            return int(s.scalar(select(func.count(Embedding.id))
                                .where(Embedding.model == model)) or 0)

    def embedding_rows(self, model: str = EMBEDDING_MODEL, after_id: int = 0
                       ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(embedding ids, photo ids, vectors (N, 128)) of rows with id > after_id, in id
        order: what an incremental search index adds."""
        with self.session() as s:
            rows = s.execute(select(Embedding.id, Embedding.photo_id, Embedding.vector)
                             .where(Embedding.model == model, Embedding.id > after_id)
                             .order_by(Embedding.id)).all()
        eids = np.fromiter((r[0] for r in rows), np.int64, len(rows))
        pids = np.fromiter((r[1] for r in rows), np.int64, len(rows))
        vecs = (np.frombuffer(b"".join(r[2] for r in rows), np.float32)
                .reshape(len(rows), EMBEDDING_DIM).copy() if rows
                else np.zeros((0, EMBEDDING_DIM), np.float32))
        return eids, pids, vecs

    def load_embeddings(self, model: str = EMBEDDING_MODEL
                        ) -> tuple[int, np.ndarray, np.ndarray]:
        """(revision, photo_ids int64 (N,), vectors float32 (N, 128)) for one model.

        The revision is read first: if a writer commits in between, the next freshness
        check sees a newer revision and reloads, so a stale matrix never sticks.
        """
        rev = self.revision()
        with self.session() as s:
            rows = s.execute(select(Embedding.photo_id, Embedding.vector)
                             .where(Embedding.model == model).order_by(Embedding.id)).all()
        ids = np.fromiter((r[0] for r in rows), np.int64, len(rows))
        if not rows:
            return rev, ids, np.zeros((0, EMBEDDING_DIM), np.float32)
        vecs = np.frombuffer(b"".join(r[1] for r in rows), np.float32)
        return rev, ids, vecs.reshape(len(rows), -1).copy()

    def photo_details(self, photo_ids: Sequence[int], thumbnails: bool = True
                      ) -> dict[int, tuple[int, str, str, str, bytes | None]]:
        """photo id -> (subject_id, subject_name, sha256, source_path, thumbnail)."""
        cols = [Photo.id, Photo.subject_id, Subject.name, Photo.sha256, Photo.source_path]
        if thumbnails:
            cols.append(Photo.thumbnail)
        q = (select(*cols).join(Subject, Subject.id == Photo.subject_id)
             .where(Photo.id.in_([int(i) for i in photo_ids])))
        with self.session() as s:
            return {r[0]: (r[1], r[2], r[3], r[4], r[5] if thumbnails else None)
                    for r in s.execute(q)}

    def sample_vectors(self, model: str, n: int) -> np.ndarray:
        """At most ~n descriptors of `model` evenly spread by id, (n, 128) float32: what a
        server-side search reads its distance spread from, without loading the rest."""
        step = max(1, self.count_embeddings(model) // max(1, n))
        with self.session() as s:
            rows = s.scalars(select(Embedding.vector).where(
                Embedding.model == model, Embedding.id % step == 0)
                .order_by(Embedding.id).limit(n)).all()
        if not rows:
            return np.zeros((0, EMBEDDING_DIM), np.float32)
        return np.frombuffer(b"".join(rows), np.float32).reshape(-1, EMBEDDING_DIM)

    def nearest_on_server(self, model: str, query: np.ndarray, k: int, ef_search: int
                          ) -> tuple[np.ndarray, np.ndarray]:
        """(photo ids, distances) of the k nearest descriptors, nearest first, by pgvector's
        HNSW index (`ORDER BY vector <-> :q`); the distances are the server's exact L2."""
        q = np.asarray(query, "<f4").reshape(-1).tobytes()
        dist = Embedding.vector.op("<->", return_type=Float)(q)
        stmt = (select(Embedding.photo_id, dist.label("d")).where(Embedding.model == model)
                .order_by(dist).limit(int(k)))
        with self.engine.begin() as conn:
            # SET LOCAL: only this transaction; a pooled connection keeps no state.
            conn.exec_driver_sql(f"SET LOCAL hnsw.ef_search = {int(ef_search)}")
            # Past ef_search rows (k > ef_search, or many rows of another model) keep
            # scanning; relaxed order is re-sorted below.
            conn.exec_driver_sql("SET LOCAL hnsw.iterative_scan = relaxed_order")
            rows = conn.execute(stmt).all()
        rows.sort(key=lambda r: r[1])
        return (np.array([r[0] for r in rows], np.int64),
                np.array([r[1] for r in rows], np.float32))

    # ------------------------------------------------------------ writing

    @staticmethod
    def _bump(s: Session) -> None:
        s.execute(update(GalleryState).where(GalleryState.id == 1)
                  .values(revision=GalleryState.revision + 1))

    def add_subject(self, name: str, external_ref: str | None = None, notes: str = "") -> int:
        with self.session() as s:
            sub = Subject(name=name, external_ref=external_ref, notes=notes)
            s.add(sub)
            s.flush()
            return sub.id

    def update_subject(self, subject_id: int, *, name: str | None = None,
                       external_ref: str | None = None, notes: str | None = None) -> None:
        values = {k: v for k, v in (("name", name), ("external_ref", external_ref),
                                    ("notes", notes)) if v is not None}
        if values:
            with self.session() as s:
                s.execute(update(Subject).where(Subject.id == subject_id).values(**values))

    def remove_subject(self, subject_id: int) -> int:
        """Delete a subject with its photos and descriptors; returns photos removed (or -1
        if there was no such subject)."""
        with self.session() as s:
            if s.get(Subject, subject_id) is None:
                return -1
            n = s.scalar(select(func.count(Photo.id)).where(Photo.subject_id == subject_id))
            s.execute(delete(Subject).where(Subject.id == subject_id))
            self._bump(s)
            return int(n or 0)

    def remove_enrolled(self, shas: Iterable[str]) -> int:
        """Undo an enrolment: delete these photos, and their subjects that are left with
        no photo (a cancelled run's partial set). Returns the photos removed."""
        shas = list(shas)
        removed = 0
        with self.session() as s:
            for start in range(0, len(shas), 500):
                chunk = shas[start:start + 500]
                sids = set(s.scalars(select(Photo.subject_id).where(Photo.sha256.in_(chunk))))
                removed += s.execute(delete(Photo).where(Photo.sha256.in_(chunk))).rowcount or 0
                for sid in sids:
                    if not s.scalar(select(func.count(Photo.id)).where(Photo.subject_id == sid)):
                        s.execute(delete(Subject).where(Subject.id == sid))
            self._bump(s)
        return removed

    def remove_photo(self, sha256: str) -> bool:
        """Delete one photo (by full SHA-256, or a unique prefix of >= 8 hex digits)."""
        with self.session() as s:
            sha = self._resolve_sha(s, sha256)
            if sha is None:
                return False
            s.execute(delete(Photo).where(Photo.sha256 == sha))
            self._bump(s)
            return True

    @staticmethod
    def _resolve_sha(s: Session, sha: str) -> str | None:
        sha = sha.strip().lower()
        if len(sha) == 64:
            return sha if s.scalar(select(Photo.id).where(Photo.sha256 == sha)) else None
        if len(sha) < 8:
            raise ValueError("give at least 8 hex digits of the photo's SHA-256")
        found = s.scalars(select(Photo.sha256).where(Photo.sha256.like(f"{sha}%")).limit(2)).all()
        if len(found) > 1:
            raise ValueError(f"SHA-256 prefix {sha} matches several photos; give more digits")
        return found[0] if found else None

    def write_batch(self, batch: Sequence[EnrolledPhoto],
                    model_version: str | None = None) -> tuple[int, list[str]]:
        """Insert enrolled photos (and subjects as needed) in one transaction; returns
        (new subjects, SHA-256 of the photos inserted). Photos already present (same
        SHA-256: another enrolment got there first) are left alone and not counted."""
        version = model_version or embedding_model_version()
        new_subjects = 0
        inserted: list[str] = []
        with self.session() as s:
            if s.get_bind().dialect.name == "postgresql":
                # Several workstations enrol at once: one writer at a time, held to commit,
                # so two never both insert the same photo (SHA-256) or the same new subject.
                s.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": WRITE_LOCK_KEY})
            present = set(s.scalars(select(Photo.sha256).where(
                Photo.sha256.in_([b.sha256 for b in batch]))))
            refs = {b.item.external_ref for b in batch if b.item.external_ref}
            names = {b.item.subject for b in batch if not b.item.external_ref}
            by_ref = {x.external_ref: x.id for x in s.scalars(
                select(Subject).where(Subject.external_ref.in_(refs)))} if refs else {}
            by_name: dict[str, int] = {}
            if names:
                for sid, nm in s.execute(select(Subject.id, Subject.name)
                                         .where(Subject.name.in_(names)).order_by(Subject.id)):
                    by_name.setdefault(nm, sid)
            for b in batch:
                if b.sha256 in present:
                    continue
                present.add(b.sha256)
                key_map, key = ((by_ref, b.item.external_ref) if b.item.external_ref
                                else (by_name, b.item.subject))
                sid = key_map.get(key)
                if sid is None:
                    sub = Subject(name=b.item.subject, external_ref=b.item.external_ref)
                    s.add(sub)
                    s.flush()
                    sid = key_map[key] = sub.id
                    new_subjects += 1
                photo = Photo(subject_id=sid, sha256=b.sha256, source_path=str(b.item.path),
                              width=b.width, height=b.height, thumbnail=b.thumbnail)
                assert b.scan.vector is not None and b.scan.box is not None
                t, r, bt, lf = b.scan.box
                photo.embeddings.append(Embedding(
                    model=EMBEDDING_MODEL, model_version=version, dim=int(b.scan.vector.size),
                    vector=np.asarray(b.scan.vector, "<f4").tobytes(), box_top=t, box_right=r,
                    box_bottom=bt, box_left=lf))
                # the face drawn as a sketch (core.drawn); a server gallery searches one
                # way (pgvector ranks plain L2), so its index is not doubled for nothing
                if b.drawn is not None and not self.on_server:
                    photo.embeddings.append(Embedding(
                        model=DRAWN_MODEL, model_version=version, dim=int(b.drawn.size),
                        vector=np.asarray(b.drawn, "<f4").tobytes(), box_top=t,
                        box_right=r, box_bottom=bt, box_left=lf))
                s.add(photo)
                inserted.append(b.sha256)
            self._bump(s)
        return new_subjects, inserted

    def add_drawings(self, batch: int = 64,
                     progress: Callable[[int, int], None] | None = None,
                     drawing: Drawing = PENCIL, cancel: threading.Event | None = None
                     ) -> DrawingSummary:
        """Draw every enrolled face that has no drawing by `drawing` yet (a gallery
        enrolled before drawings were kept, or before the model drew with a network;
        `core.drawn`), from its source file: the pencil filter at its stored face box, the
        chip cut as enrolment cuts it; a drawing network from the photo's canonical frame.
        A file that has moved, changed (another SHA-256) or cannot be read is reported and
        its face keeps no drawing. `progress(done, total)`; `cancel` stops it after the
        batch being drawn (what was drawn is kept)."""
        from sketchlab.core.drawn import drawn_descriptors, load_drawer, network_drawn_descriptors
        from sketchlab.core.hashing import sha256_file
        from sketchlab.core.imageio import load_image
        from sketchlab.core.matching import face_chip
        from sketchlab.core.preprocess import prepare_photo

        if self.on_server:
            raise ValueError("a gallery on a PostgreSQL server is searched one way (by its "
                             "pgvector index); its faces are not drawn")
        net = load_drawer(drawing.drawer) if drawing.drawer is not None else None
        with self.session() as s:
            has = select(Embedding.photo_id).where(Embedding.model == drawing.model)
            rows = s.execute(
                select(Photo.id, Photo.sha256, Photo.source_path, Embedding.box_top,
                       Embedding.box_right, Embedding.box_bottom, Embedding.box_left)
                .join(Embedding, Embedding.photo_id == Photo.id)
                .where(Embedding.model == EMBEDDING_MODEL, Photo.id.not_in(has))
                .order_by(Photo.id)).all()
        out = DrawingSummary()
        version = embedding_model_version()
        chips: list[tuple[int, tuple[int, int, int, int], np.ndarray]] = []

        def write() -> None:
            vecs = (drawn_descriptors([c for _, _, c in chips]) if net is None else
                    network_drawn_descriptors([c for _, _, c in chips], net))
            with self.session() as s:
                for (pid, (t, r, b, left), _), v in zip(chips, vecs, strict=True):
                    s.add(Embedding(photo_id=pid, model=drawing.model, model_version=version,
                                    dim=int(v.size), vector=np.asarray(v, "<f4").tobytes(),
                                    box_top=t, box_right=r, box_bottom=b, box_left=left))
                self._bump(s)
            out.drawn += len(chips)
            chips.clear()

        for n, (pid, sha, source, *box) in enumerate(rows, 1):
            if cancel is not None and cancel.is_set():
                break
            try:
                if sha256_file(source) != sha:
                    out.left.append((source, "changed since it was enrolled"))
                else:
                    rgb = np.ascontiguousarray(load_image(source))
                    face = tuple(box)  # what the pencil cuts; a network reads the frame
                    image = (face_chip(rgb, face) if net is None  # type: ignore[arg-type]
                             else prepare_photo(rgb, net.resolution).image)
                    chips.append((pid, face, image))  # type: ignore[arg-type]
            except FileNotFoundError:
                out.left.append((source, "no longer at its enrolled path"))
            except Exception as exc:  # an unreadable or damaged file: report, go on
                log.info("cannot draw %s: %s", source, exc)
                out.left.append((source, "unreadable"))
            if len(chips) >= batch:
                write()
            if progress is not None:
                progress(n, len(rows))
        if chips:
            write()
        return out

    def enroll(self, paths_: Iterable[str | os.PathLike[str]], *, subject: str | None = None,
               rule: SubjectRule = "folder", workers: int | None = None,
               batch_size: int = DEFAULT_BATCH,
               largest_face: bool = False, use_cache: bool = True,
               progress: ProgressFn | None = None,
               cancel: threading.Event | None = None, batched: bool = True,
               nice: int = 0, drawing: Drawing = PENCIL) -> EnrollSummary:
        """Enrol folders (recursive), image files and manifest.csv files; see
        sketchlab.enrol. Blocks; commits every `batch_size` photos."""
        return self.enroll_items(iter_items(paths_, subject, rule), workers=workers,
                                 batch_size=batch_size, largest_face=largest_face,
                                 use_cache=use_cache, progress=progress, cancel=cancel,
                                 batched=batched, nice=nice, drawing=drawing)

    def enroll_items(self, items: Iterable[EnrollItem | SkippedFile], *,
                     workers: int | None = None, batch_size: int = DEFAULT_BATCH,
                     largest_face: bool = False, use_cache: bool = True,
                     progress: ProgressFn | None = None,
                     cancel: threading.Event | None = None, batched: bool = True,
                     nice: int = 0, drawing: Drawing = PENCIL) -> EnrollSummary:
        """Enrol work items as they are: a summary's skipped multi-face photos, retried
        with `largest_face`, keep the subjects their first run gave them. Each face is
        drawn by the pencil filter as it is enrolled; with a drawing network (`drawing`,
        the model's: `model_catalog.model_drawing`) the new faces are then drawn by it too
        (`add_drawings`), so the gallery is searched two ways as the model's rates were
        measured."""
        t0 = time.perf_counter()
        cache = EmbeddingCache(paths.user_cache_dir() / "embeddings.sqlite") if use_cache \
            else None
        version = embedding_model_version()
        try:
            summary = run_enrolment(items, existing=self.known_sha256,
                                    write=lambda b: self.write_batch(b, version), cache=cache,
                                    workers=workers, batch_size=batch_size,
                                    largest_face=largest_face, progress=progress,
                                    cancel=cancel, batched=batched, nice=nice)
        finally:
            if cache is not None:
                cache.close()
        if drawing.drawer is not None and not self.on_server and summary.enrolled \
                and not (cancel is not None and cancel.is_set()):
            summary.drawings = self.add_drawings(
                drawing=drawing, cancel=cancel, progress=None if progress is None else (
                    lambda done, total: progress(drawing_progress(
                        summary, done, total, time.perf_counter() - t0))))
        return summary


@dataclass
class DrawingSummary:
    """What `Gallery.add_drawings` did: faces drawn, and files it could not draw from."""

    drawn: int = 0
    left: list[tuple[str, str]] = field(default_factory=list)  # (source path, why)

    def line(self) -> str:
        why: dict[str, int] = {}
        for _, reason in self.left:
            why[reason] = why.get(reason, 0) + 1
        left = "; ".join(f"{n} {reason}" for reason, n in why.items())
        return (f"Drew {self.drawn} faces." + (
            f" {len(self.left)} left without a drawing ({left}): the gallery is searched "
            "one way until every face has one." if self.left else
            " Every face has its drawing: the gallery is searched two ways."))


def open_gallery(url: str | os.PathLike[str] | None = None, *, migrate_schema: bool = True
                 ) -> Gallery:
    """Open (creating if needed) the gallery at `url` (a SQLAlchemy URL or a file path;
    default: $SKETCHLAB_DB or user_data_dir()/gallery.sqlite) and migrate it to the
    newest schema, backing up an existing SQLite file first (Gallery.backup)."""
    gallery = Gallery(normalise_url(url) if url is not None else default_url())
    if migrate_schema:
        try:
            gallery.backup = migrate(gallery.engine)
        except Exception:
            gallery.close()
            raise
    return gallery
