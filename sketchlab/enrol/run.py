"""Bulk enrolment: work items in (`enrol.inputs`); subjects, photos and descriptors out.

The work is split so that the slow part parallelises and the database keeps one writer:
- this process walks the inputs (`enrol.inputs.iter_items`), hashes each file (SHA-256,
  the dedupe key), skips what the gallery already holds, and looks up the shared
  EmbeddingCache;
- worker processes (one per core, `spawn`, so it is safe from a GUI thread) decode the
  image, run dlib's HOG detector, cut the 150x150 face chip and a face-centred thumbnail;
- this process turns the chips into 128-d descriptors in batches of EMBED_BATCH with the
  PyTorch port of dlib's network (several times less CPU a face than dlib's per-face call,
  docs/decisions.md; the same descriptor within 1e-3 per component,
  tests/core/test_face_net.py).
  `batched=False` keeps dlib's own call in the workers (for comparison: sketchlab bench);
- this process writes results in batches, one transaction each, so a kill -9 loses at
  most the batch in flight and a rerun skips everything already committed.
A bad file (corrupt, not an image, no face, several faces, too big) is reported with its
reason and skipped; nothing aborts the batch.
"""

from __future__ import annotations

import io
import logging
import multiprocessing
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field, replace
from typing import Any, Literal

import numpy as np

from sketchlab.core.cpus import usable_cores
from sketchlab.core.embedding_cache import EmbeddingCache
from sketchlab.core.hashing import sha256_file
from sketchlab.core.matching import FaceScan
from sketchlab.enrol.inputs import STATUS_TEXT, EnrollItem, SkippedFile, Status

log = logging.getLogger(__name__)

THUMB_SIZE = 128
DETECT_MAX_SIDE = 1024  # detect on a downscaled copy of big photos; embed at full size
DEFAULT_BATCH = 64
EMBED_BATCH = 32  # chips per forward pass of the descriptor network
MIN_POOL_JOBS = 24


Phase = Literal["checking", "starting", "enrolling", "drawing", "done"]


@dataclass(frozen=True)
class EnrollProgress:
    """Sent from the start and after every file; plain data, safe to hand to another
    thread. `done` counts files dealt with (enrolled + duplicates + skipped), so it agrees
    with the summary at every step. Before the first face is found the run is `checking`
    (hashing files against the gallery: `checked` of `total`) and then `starting` (the
    detector processes load), which take seconds on a big folder. After the files, a model
    that draws its gallery with a network is `drawing` the new faces: `checked` of
    `to_draw`."""

    done: int
    total: int
    enrolled: int
    duplicates: int
    skipped: int  # includes `failed`
    committed: int
    path: str
    elapsed_s: float
    phase: Phase = "enrolling"
    checked: int = 0
    failed: int = 0
    to_draw: int = 0


def drawing_progress(summary: EnrollSummary, drawn: int, to_draw: int,
                     elapsed_s: float) -> EnrollProgress:
    """A finished run's counts while its new faces are drawn by a network (minutes for a
    big folder: 80 ms a face on a 2-core CPU)."""
    s = summary
    return EnrollProgress(s.total, s.total, s.enrolled, s.duplicates, len(s.skipped),
                          s.enrolled, "", elapsed_s, "drawing", drawn, len(s.failed), to_draw)


@dataclass
class EnrollSummary:
    total: int = 0
    enrolled: int = 0
    duplicates: int = 0
    new_subjects: int = 0
    skipped: list[SkippedFile] = field(default_factory=list)
    cancelled: bool = False
    seconds: float = 0.0
    computed: int = 0  # descriptors computed (not from the cache)
    workers: int = 1
    committed_sha256: list[str] = field(default_factory=list)  # photos written by this run
    # the faces then drawn by the model's drawing network (`db.gallery.DrawingSummary`)
    drawings: Any = None

    @property
    def faces_per_s(self) -> float:
        return self.enrolled / self.seconds if self.seconds > 0 else 0.0

    @property
    def done(self) -> int:
        """Files dealt with: the last progress report's `done`."""
        return self.enrolled + self.duplicates + len(self.skipped)

    @property
    def failed(self) -> list[SkippedFile]:
        return [s for s in self.skipped if s.failed]

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for s in self.skipped:
            out[s.status] = out.get(s.status, 0) + 1
        return out

    def retry_with_largest_face(self) -> list[EnrollItem]:
        """The multi-face photos, as the work items to enrol again with the largest face."""
        return [s.item for s in self.skipped if s.status == "multi_face" and s.item is not None]

    def line(self) -> str:
        """One sentence for a person: enrolled, already there, skipped and failed, by reason."""
        def why(files: list[SkippedFile]) -> str:
            by_reason: dict[str, int] = {}
            for f in files:
                text = STATUS_TEXT[f.status]
                by_reason[text] = by_reason.get(text, 0) + 1
            return (" (" + ", ".join(f"{n} {text}" for text, n in by_reason.items()) + ")"
                    if by_reason else "")

        skipped = [s for s in self.skipped if not s.failed]
        state = "Cancelled" if self.cancelled else "Done"
        return (f"{state} after {self.done} of {self.total} files in {self.seconds:.1f} s: "
                f"{self.enrolled} enrolled ({self.new_subjects} new subjects) · "
                f"{self.duplicates} already in the gallery · {len(skipped)} skipped"
                f"{why(skipped)} · {len(self.failed)} failed{why(self.failed)}."
                + (f" {self.drawings.line()}" if self.drawings is not None else ""))

    def as_dict(self) -> dict[str, object]:
        return {"total": self.total, "enrolled": self.enrolled, "duplicates": self.duplicates,
                "new_subjects": self.new_subjects, "skipped": self.counts(),
                "cancelled": self.cancelled, "seconds": round(self.seconds, 2),
                "faces_per_s": round(self.faces_per_s, 2), "computed": self.computed,
                "workers": self.workers,
                "drawn": self.drawings.drawn if self.drawings is not None else 0,
                "skipped_files": [{"path": s.path, "status": s.status, "reason": s.reason}
                                  for s in self.skipped]}



# ---------------------------------------------------------------- worker side

@dataclass(frozen=True)
class _Task:
    index: int
    path: str
    sha256: str
    cached: FaceScan | None
    largest_face: bool
    batched: bool = True
    drawn: np.ndarray | None = None  # the face's drawing's descriptor, if cached (core.drawn)


@dataclass(frozen=True)
class _Result:
    index: int
    sha256: str
    status: Status
    reason: str = ""
    scan: FaceScan | None = None  # to write back to the cache (None: nothing new)
    width: int = 0
    height: int = 0
    thumbnail: bytes = b""
    chip: np.ndarray | None = None  # the face chip still to embed (batched descriptor)
    drawn: np.ndarray | None = None  # the chip's drawing's descriptor, computed here


def _die_with_parent(parent: int) -> None:
    """End this worker when the enrolling process dies (kill -9, SIGTERM): otherwise the
    workers (each holding dlib) and multiprocessing's resource tracker, which waits for them,
    live on. Linux kills us at once (PR_SET_PDEATHSIG); elsewhere a watcher thread sees
    us re-parented within a second."""
    if sys.platform.startswith("linux"):
        import ctypes

        try:
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(1, signal.SIGKILL, 0, 0, 0)  # 1 = PR_SET_PDEATHSIG
        except (OSError, AttributeError):
            pass
    if os.getppid() != parent:  # died before the line above took effect
        os._exit(1)

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(1.0)
        os._exit(1)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def _init_worker(parent: int, nice: int = 0) -> None:
    _die_with_parent(parent)
    # Ctrl-C is the parent's to handle (it commits, then stops the pool); a worker that
    # died of it would look like a crash.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if nice and hasattr(os, "nice"):
        os.nice(nice)  # the desktop app enrols below its pen and live photo
    from sketchlab.core import matching

    matching.face_recognition_api()  # pay dlib's slow import once per worker, not per photo


def face_thumbnail(rgb: np.ndarray, box: tuple[int, int, int, int], size: int = THUMB_SIZE
                   ) -> bytes:
    """A square JPEG around the face with room for hair and chin."""
    from PIL import Image

    h, w = rgb.shape[:2]
    top, right, bottom, left = box
    cy, cx = (top + bottom) / 2, (left + right) / 2
    half = max(bottom - top, right - left) * 0.9
    y0, y1 = int(max(0, cy - half)), int(min(h, cy + half))
    x0, x1 = int(max(0, cx - half)), int(min(w, cx + half))
    crop = Image.fromarray(rgb[y0:y1, x0:x1])
    crop.thumbnail((size, size), Image.Resampling.LANCZOS)
    buf = io.BytesIO()
    crop.save(buf, format="JPEG", quality=85)
    return buf.getvalue()


def _detect_scaled(rgb: np.ndarray) -> tuple[list[tuple[int, int, int, int]], float]:
    # deferred: cv2 and dlib load in the enrolment workers, not when a gallery opens
    from sketchlab.core.matching import detect_faces
    from sketchlab.core.preprocess import downscale

    h, w = rgb.shape[:2]
    small, scale = downscale(rgb, DETECT_MAX_SIDE)
    boxes = detect_faces(small)
    if scale != 1.0:
        boxes = [(round(t / scale), min(w, round(r / scale)), min(h, round(b / scale)),
                  round(left / scale)) for t, r, b, left in boxes]
    return boxes, scale


def process(task: _Task) -> _Result:
    """Decode, detect, embed and thumbnail one photo. Runs in a worker (or inline)."""
    from sketchlab.core.imageio import ImageLoadError, load_image
    from sketchlab.core.matching import face_chip, scan_faces

    try:
        rgb = load_image(task.path)
    except ImageLoadError as exc:
        return _Result(task.index, task.sha256, "unreadable", str(exc))
    except Exception as exc:  # a decoder bug must not end the batch
        return _Result(task.index, task.sha256, "unreadable", f"cannot decode: {exc}")
    h, w = rgb.shape[:2]
    cached, fresh, chip = task.cached, None, None
    try:
        known_none = cached is not None and cached.vector is None and cached.n_faces == 0
        known_face = (cached is not None and cached.box is not None
                      and (cached.n_faces or 0) > 0)
        if known_none or known_face:
            scan = cached
        else:
            boxes, _ = _detect_scaled(rgb)
            vec = cached.vector if cached is not None else None
            if boxes and vec is None and task.batched:
                # The descriptor is computed in the parent, in batches, from this chip.
                box = tuple(int(v) for v in boxes[0])
                chip = face_chip(np.ascontiguousarray(rgb), box)
                scan = FaceScan(None, box, len(boxes))  # type: ignore[arg-type]
            else:
                scan = (FaceScan(None, None, 0) if not boxes else
                        scan_faces(rgb, box=boxes[0], vector=vec, n_faces=len(boxes)))
            fresh = scan
    except Exception as exc:
        return _Result(task.index, task.sha256, "unreadable", f"face detection failed: {exc}")
    if scan.n_faces == 0 or (scan.vector is None and chip is None) or scan.box is None:
        return _Result(task.index, task.sha256, "no_face",
                       "no face found (the HOG detector needs a roughly frontal face of at "
                       "least ~40 px)", scan=fresh, chip=chip)
    if scan.n_faces > 1 and not task.largest_face:
        return _Result(task.index, task.sha256, "multi_face",
                       f"{scan.n_faces} faces found; crop it to one person, or enrol its "
                       "largest face", scan=fresh, chip=chip)
    if chip is None and task.drawn is None:  # the chip is drawn and embedded in the parent
        try:
            chip = face_chip(np.ascontiguousarray(rgb), scan.box)
        except Exception as exc:
            return _Result(task.index, task.sha256, "unreadable",
                           f"face landmarks failed: {exc}", scan=fresh)
    return _Result(task.index, task.sha256, "enrolled", scan=fresh, width=w, height=h,
                   thumbnail=face_thumbnail(rgb, scan.box), chip=chip)


# ---------------------------------------------------------------- driver

@dataclass(frozen=True)
class EnrolledPhoto:
    """One result ready to write: what Gallery.write_batch needs."""

    item: EnrollItem
    sha256: str
    scan: FaceScan
    width: int
    height: int
    thumbnail: bytes
    drawn: np.ndarray | None = None  # the face drawn as a sketch, its descriptor (core.drawn)


ProgressFn = Callable[[EnrollProgress], None]
WriteFn = Callable[[Sequence[EnrolledPhoto]], tuple[int, list[str]]]  # new subjects, inserted
ExistingFn = Callable[[Sequence[str]], set[str]]


def default_workers() -> int:
    return usable_cores()


def run_enrolment(items: Iterable[EnrollItem | SkippedFile], *, existing: ExistingFn,
                  write: WriteFn, cache: EmbeddingCache | None = None, workers: int | None = None,
                  batch_size: int = DEFAULT_BATCH, largest_face: bool = False,
                  progress: ProgressFn | None = None, cancel: threading.Event | None = None,
                  batched: bool = True, nice: int = 0) -> EnrollSummary:
    """Drive one enrolment. `existing(shas)` says which are already in the gallery,
    `write(batch)` commits a batch; `cache` is an EmbeddingCache or None; `batched`
    computes descriptors here in batches (see the module docstring); worker processes
    run at `nice` (the desktop app passes 10)."""
    run = _Enrolment(existing, write, cache, workers, batch_size, progress, batched)
    run.plan(list(items), largest_face, cancel)
    return run.execute(cancel, nice)


class _Enrolment:
    """One enrolment run, in named steps: `plan` (hash, dedupe, consult the cache), then
    `execute` (detect/embed in workers -> `handle` -> `embed_pending` -> `finish` ->
    `flush` commits a batch). The counters live here, not in closures."""

    def __init__(self, existing: ExistingFn, write: WriteFn, cache: EmbeddingCache | None,
                 workers: int | None, batch_size: int, progress: ProgressFn | None,
                 batched: bool) -> None:
        self.existing, self.write, self.cache = existing, write, cache
        self.batch_size, self.progress, self.batched = batch_size, progress, batched
        self.t0 = time.perf_counter()
        self.summary = EnrollSummary(workers=workers or default_workers())
        self.tasks: list[_Task] = []
        self.by_index: dict[int, EnrollItem] = {}
        self.pending: list[EnrolledPhoto] = []  # enrolled, not yet committed
        self.pending_scans: list[tuple[str, FaceScan]] = []  # to write to the cache
        self.pending_drawn: list[tuple[str, np.ndarray]] = []  # drawings' descriptors, too
        self.to_embed: list[_Result] = []  # chips waiting for a descriptor batch
        self.committed = 0
        self.done = 0
        self.checked = 0
        self.phase: Phase = "checking"
        self.last_path = ""

    # ---- progress ------------------------------------------------------------------------
    def report(self) -> None:
        if self.progress is not None:
            s = self.summary
            self.progress(EnrollProgress(self.done, s.total, s.enrolled, s.duplicates,
                                         len(s.skipped), self.committed, self.last_path,
                                         time.perf_counter() - self.t0, self.phase,
                                         self.checked, len(s.failed)))

    def _step(self, path: str) -> None:
        """One more photo dealt with."""
        self.done += 1
        self.last_path = path
        self.report()

    def skip(self, path: str, status: Status, reason: str, counted: bool = False,
             item: EnrollItem | None = None) -> None:
        self.summary.skipped.append(SkippedFile(path, status, reason, item))
        log.info("skipped %s: %s", path, reason)
        if not counted:
            self._step(path)

    # ---- step 1: plan (this process; cheap next to embedding) ---------------------------
    def plan(self, all_items: list[EnrollItem | SkippedFile], largest_face: bool,
             cancel: threading.Event | None) -> None:
        """Hash every file, drop duplicates (in the gallery or in this run), and look each
        new photo up in the cache: one `_Task` per photo left to process."""
        self.summary.total = len(all_items)
        seen: set[str] = set()
        work = [x for x in all_items if isinstance(x, EnrollItem)]
        for x in all_items:
            if isinstance(x, SkippedFile):
                self.summary.skipped.append(x)
                self.done += 1
        self.report()  # the count is on screen before the first file is read
        last = time.perf_counter()
        for start in range(0, len(work), 512):
            if cancel is not None and cancel.is_set():
                break
            chunk = work[start:start + 512]
            shas = []
            for item in chunk:
                shas.append(self._hash(item))
                self.checked += 1
                if time.perf_counter() - last > 0.25:
                    last = time.perf_counter()
                    self.report()
            known = self.existing([s for s in shas if s])
            for item, sha in zip(chunk, shas, strict=True):
                if sha is None:
                    continue
                if sha in known or sha in seen:
                    self.summary.duplicates += 1
                    self._step(str(item.path))
                    continue
                seen.add(sha)
                idx = len(self.tasks)
                self.by_index[idx] = item
                self.tasks.append(_Task(idx, str(item.path), sha, self._cached(sha),
                                        largest_face, self.batched, self._cached_drawn(sha)))

    def _hash(self, item: EnrollItem) -> str | None:
        try:
            return sha256_file(item.path)
        except OSError as exc:
            self.skip(str(item.path), "missing" if isinstance(exc, FileNotFoundError)
                      else "unreadable", f"cannot read file: {exc.strerror or exc}",
                      item=item)
            return None

    def _cached(self, sha: str) -> FaceScan | None:
        if self.cache is None:
            return None
        hit, cached = self.cache.get_scan(sha)
        if hit and cached is not None and cached.n_faces is None:
            cached = FaceScan(cached.vector, None, None)  # vector known, box not
        return cached

    def _cached_drawn(self, sha: str) -> np.ndarray | None:
        from sketchlab.core.drawn import DRAWN_MODEL

        return None if self.cache is None else self.cache.get(sha, None, DRAWN_MODEL)[1]

    def fresh(self, task: _Task) -> _Task:
        """Look the cache up again just before dispatch: another process (the trainer's
        evaluation, a second enrolment) may have embedded this photo meanwhile."""
        if self.cache is None or (task.cached is not None and task.cached.box is not None):
            return task
        hit, scan = self.cache.get_scan(task.sha256)
        if not hit or scan is None or (scan.box is None and task.cached is not None):
            return task  # nothing new
        updated = replace(task, cached=scan)
        self.tasks[task.index] = updated
        return updated

    # ---- step 2: process (inline or in a pool), one result at a time --------------------
    def execute(self, cancel: threading.Event | None, nice: int) -> EnrollSummary:
        summary = self.summary
        n_compute = sum(1 for t in self.tasks if t.cached is None or t.cached.box is None)
        # Starting a worker costs seconds (spawn + importing dlib): not worth it for a handful.
        n_workers = 1 if n_compute < MIN_POOL_JOBS else min(summary.workers, n_compute)
        summary.workers = n_workers
        self.phase = "starting"  # worker processes (or this one) load the face detector
        self.report()
        self.phase = "enrolling"  # from the first result on
        try:
            if n_workers <= 1:
                for task in self.tasks:
                    if cancel is not None and cancel.is_set():
                        summary.cancelled = True
                        break
                    self.handle(process(self.fresh(task)))
            else:
                _run_pool(self.tasks, n_workers, self.handle, cancel, summary, self.fresh,
                          nice)
        finally:
            self.flush()  # commit whatever finished, also on error or Ctrl-C
            summary.seconds = time.perf_counter() - self.t0
        if cancel is not None and cancel.is_set():
            summary.cancelled = True
        self.phase = "done"
        self.report()  # the last report carries the committed counts the summary shows
        return summary

    def handle(self, res: _Result) -> None:
        """A worker's result: finished, or a chip still to embed here in a batch."""
        if res.chip is None:
            self.finish(res)
            return
        # Its outcome is known now and counted now (enrolled or skipped), so progress and
        # Cancel respond per photo and the counts shown are the ones the summary ends
        # with; a cancel still embeds and commits the chips already cut (flush).
        self.to_embed.append(res)
        item = self.by_index[res.index]
        if res.status == "enrolled":
            self.summary.enrolled += 1
            self._step(str(item.path))
        else:
            self.skip(str(item.path), res.status, res.reason, item=item)
        if len(self.to_embed) >= EMBED_BATCH:
            self.embed_pending()

    # ---- step 3: descriptors for the chips, in batches ----------------------------------
    def embed_pending(self) -> None:
        """The photo descriptors still unknown, and the drawings' of faces enrolled."""
        if not self.to_embed:
            return
        # deferred: torch loads only when an enrolment embeds
        from sketchlab.core.drawn import drawn_descriptors
        from sketchlab.core.matching import embed_chips

        ready, self.to_embed = self.to_embed, []
        # With a worker per core busy detecting, one torch thread here (more oversubscribe).
        workers = self.summary.workers
        threads = max(1, default_workers() - workers + 1) if workers > 1 else None
        need = [i for i, r in enumerate(ready) if r.scan is not None and r.scan.vector is None]
        draw = [i for i, r in enumerate(ready) if r.status == "enrolled"
                and self.tasks[r.index].drawn is None]
        if need:
            vecs = embed_chips([ready[i].chip for i in need], EMBED_BATCH,  # type: ignore[misc]
                               threads=threads)
            for i, v in zip(need, vecs, strict=True):
                ready[i] = replace(ready[i], scan=replace(ready[i].scan, vector=v))
        if draw:
            drawn = drawn_descriptors([ready[i].chip for i in draw], EMBED_BATCH,  # type: ignore[misc]
                                      threads=threads)
            for i, v in zip(draw, drawn, strict=True):
                ready[i] = replace(ready[i], drawn=v)
        for r in ready:
            self.finish(replace(r, chip=None), counted=True)

    # ---- step 4: record the outcome; commit in batches ----------------------------------
    def finish(self, res: _Result, counted: bool = False) -> None:
        """`counted`: its outcome was already counted when its chip arrived (`handle`)."""
        item = self.by_index[res.index]
        if res.scan is not None:
            self.pending_scans.append((res.sha256, res.scan))
            self.summary.computed += 1
        if res.status == "enrolled":
            scan = res.scan if res.scan is not None else self.tasks[res.index].cached
            assert scan is not None
            drawn = res.drawn if res.drawn is not None else self.tasks[res.index].drawn
            if res.drawn is not None:
                self.pending_drawn.append((res.sha256, res.drawn))
            self.pending.append(EnrolledPhoto(item, res.sha256, scan, res.width, res.height,
                                              res.thumbnail, drawn))
            if not counted:
                self.summary.enrolled += 1
                self._step(str(item.path))
        elif not counted:
            self.skip(str(item.path), res.status, res.reason, item=item)
        if (len(self.pending) >= self.batch_size
                or len(self.pending_scans) >= 4 * self.batch_size):
            self.flush()

    def flush(self) -> None:
        """Embed what waits, commit the enrolled batch and write new scans to the cache."""
        self.embed_pending()
        summary = self.summary
        if self.pending:
            new_subjects, inserted = self.write(self.pending)
            summary.new_subjects += new_subjects
            self.committed += len(inserted)
            summary.committed_sha256.extend(inserted)
            # Photos another process inserted meanwhile are its enrolments, not ours.
            summary.enrolled -= len(self.pending) - len(inserted)
            summary.duplicates += len(self.pending) - len(inserted)
        if self.cache is not None:
            if self.pending_scans:
                self.cache.put_scans(self.pending_scans)
            if self.pending_drawn:
                from sketchlab.core.drawn import DRAWN_MODEL

                self.cache.put_many([(sha, v, None) for sha, v in self.pending_drawn],
                                    DRAWN_MODEL)
        self.pending, self.pending_scans, self.pending_drawn = [], [], []


def _run_pool(tasks: list[_Task], n_workers: int, handle: Callable[[_Result], None],
              cancel: threading.Event | None, summary: EnrollSummary,
              fresh: Callable[[_Task], _Task], nice: int = 0) -> None:
    """Feed tasks to a process pool, a bounded window at a time. If a worker dies (a
    decoder crashing on a hostile file), start a new pool and retry what was in flight
    once; a file in flight during two crashes is reported, not retried again."""
    ctx = multiprocessing.get_context("spawn")  # fork is unsafe under a GUI's threads
    window = n_workers * 4  # bounded in flight: cancel is quick, memory stays flat
    queue: list[_Task] = list(reversed(tasks))
    crashes: dict[int, int] = {}
    while queue:
        inflight: dict[Future[_Result], _Task] = {}
        pool = ProcessPoolExecutor(n_workers, mp_context=ctx, initializer=_init_worker,
                                   initargs=(os.getpid(), nice))
        try:
            while True:
                if cancel is not None and cancel.is_set():
                    summary.cancelled = True
                    queue.clear()
                    break
                while len(inflight) < window and queue:
                    task = queue.pop()
                    task = fresh(task)
                    inflight[pool.submit(process, task)] = task
                if not inflight:
                    break
                finished, _ = wait(inflight, timeout=0.5, return_when=FIRST_COMPLETED)
                for fut in finished:
                    task = inflight.pop(fut)
                    handle(fut.result())
            # Let the in-flight few finish so their work is kept (each is one photo).
            for fut in list(inflight):
                task = inflight.pop(fut)
                if not fut.cancel():
                    handle(fut.result())
        except BrokenProcessPool:
            log.warning("an enrolment worker died; restarting the pool")
            lost = [task, *inflight.values()]
            for t in lost:
                crashes[t.index] = crashes.get(t.index, 0) + 1
                if crashes[t.index] >= 2:
                    handle(_Result(t.index, t.sha256, "unreadable",
                                   "the image decoder or face detector crashed on this file"))
                else:
                    queue.append(t)
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
