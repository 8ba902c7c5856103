"""Background work the Qt way: jobs on Qt's thread pool and one long-lived inversion thread.

* One-off jobs are superqt workers: `create_worker(fn, *args, _worker_class=Job,
  _connect={...})`. Their signals (started, yielded, returned, errored, finished) are
  queued to the thread that created the job, so the connected callables may touch
  widgets. `Job` adds what our jobs need beyond superqt's FunctionWorker, through its
  public API only: our jobs are plain functions that call into the database or a process
  pool, which superqt cannot stop (it only aborts generators at a yield), so a function
  that takes `cancel` gets a threading.Event that `quit()` sets, and one that takes
  `progress` gets a callback that emits `yielded`.
* `InversionService` owns one long-lived `InversionWorker` on its own thread. The model
  stays loaded there, only the newest request is served (stale ones are dropped, never
  queued), and the UI thread never waits on the network.

`running_jobs()` and `live_threads()` let tests and shutdown prove nothing was left running.
"""

from __future__ import annotations

import inspect
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
from PySide6.QtCore import QObject, QThread, QThreadPool, Signal, SignalInstance, Slot
from superqt.utils import FunctionWorker

from sketchlab.ui.thread_state import keep_python_thread_state

log = logging.getLogger(__name__)

_LIVE: set[QThread] = set()  # strong refs: Python must not collect a running QThread
_JOBS: set[Job] = set()  # the same for started jobs, until their `finished` is delivered
_JOBS_LOCK = threading.Lock()


def live_threads() -> list[QThread]:
    """Long-lived threads started here (the inversion thread) that are still running."""
    return [t for t in list(_LIVE) if t.isRunning()]


def running_jobs() -> list[Job]:
    """Jobs started and not yet finished."""
    with _JOBS_LOCK:
        return list(_JOBS)


def wait_for_all(timeout_ms: int = 10000) -> bool:
    """At exit: ask every job to stop and let it reach its next check, so no thread is
    destroyed while running. True when all ended in time."""
    deadline = time.monotonic() + timeout_ms / 1000
    for job in running_jobs():
        job.quit()
    if not QThreadPool.globalInstance().waitForDone(timeout_ms):
        log.error("background jobs still running at exit: %s",
                  ", ".join(getattr(j, "name", repr(j)) for j in running_jobs()))
        return False
    for t in live_threads():
        if not t.wait(max(0, int((deadline - time.monotonic()) * 1000))):
            log.error("thread %s still running at exit", t.objectName())
            return False
    return True


def _forget(thread: QThread) -> None:
    _LIVE.discard(thread)


class _Progress(QObject):
    yielded = Signal(object)  # a progress report


class Job(FunctionWorker):
    """A superqt FunctionWorker that can be asked to stop and can report progress.

    Unlike FunctionWorker.quit, `quit()` does not swallow the result: a job that stops
    early still returns what it did (a cancelled enrolment's summary). Not niced: a
    low-priority thread that holds the GIL would stall the UI and the inversion thread
    (priority inversion); background *processes* are niced instead (gallery enrolment).
    """

    def __init__(self, func: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
        self._cancel = threading.Event()
        self._done = threading.Event()
        try:
            params = inspect.signature(func).parameters
        except (TypeError, ValueError):
            params = {}
        if "cancel" in params:
            kwargs["cancel"] = self._cancel
        if "progress" in params and "progress" not in kwargs:
            kwargs["progress"] = self._report
        super().__init__(func, *args, **kwargs)
        self._progress = _Progress()  # made here, so its reports reach this thread
        self.name = getattr(func, "__name__", "job")
        # Failures the owner explains to the user (a file that is not an image); all
        # others are bugs, logged with their traceback.
        self.expected_errors: tuple[type[Exception], ...] = ()

    @property
    def yielded(self) -> SignalInstance:
        """Progress reports, beside superqt's own signals (`create_worker` connects it
        like them)."""
        return self._progress.yielded

    def _report(self, value: object) -> None:
        self.yielded.emit(value)  # safe from any thread: queued to the job's creator

    @property
    def cancelled(self) -> bool:
        return self._cancel.is_set()

    def quit(self) -> None:
        """Ask the job to stop at its next check; it still emits `returned` and `finished`."""
        self._cancel.set()

    def wait(self, timeout_ms: int = 5000) -> bool:
        """Block until the job has run (True) or the time is up (False)."""
        return self._done.wait(timeout_ms / 1000)

    def start(self) -> None:
        """Start on Qt's pool now, and never queue behind another job.

        superqt's own start() defers by a 1 ms timer inside an event loop (so that slots
        connected after `start` still see every signal); we connect first, and a `wait()`
        right after `start` must not block on a timer the waiting thread cannot fire. The
        pool grows to fit every running job: these jobs block on a database, a file or a
        process pool, so one must not wait for a thread behind a long enrolment.
        """
        with _JOBS_LOCK:
            if self in _JOBS:
                raise RuntimeError("This job is already started")
            _JOBS.add(self)
            running = len(_JOBS)
        self.finished.connect(self._forget)  # after the owner's slots: connected last
        pool = QThreadPool.globalInstance()
        pool.setMaxThreadCount(max(pool.maxThreadCount(), running))
        pool.start(self)

    def _forget(self) -> None:
        with _JOBS_LOCK:
            _JOBS.discard(self)

    def work(self) -> Any:
        try:
            return super().work()
        except self.expected_errors as exc:
            # The job's owner shows this one to the user (and logs it once, as a
            # warning); a traceback would only bury a message the user can act on.
            log.debug("background job %s: %s", self.name, exc)
            raise
        except Exception:  # reported through `errored` too, never swallowed
            log.exception("background job %s failed", self.name)
            raise

    def run(self) -> None:
        keep_python_thread_state()  # a pool thread: see ui/thread_state.py
        try:
            super().run()
        finally:
            self._done.set()


# --- live inversion ---------------------------------------------------------------------


@dataclass(frozen=True)
class ModelStatus:
    """What the photo pane and About box show about the loaded model."""

    name: str
    path: Path
    sha256: str
    device_label: str
    resolution: tuple[int, int]
    # The loaded Inverter, shared by the live preview and the search (compare=False: a
    # status is the same status whichever object holds the network).
    inverter: Any = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class InversionRequest:
    id: int
    image: np.ndarray  # (H, W, 3) uint8 RGB, the canvas in the canonical 4:5 frame
    style: str
    submitted: float  # time.perf_counter() when the UI asked
    final: bool  # True when sent at the end of a stroke (latency is measured on these)


@dataclass(frozen=True)
class InversionResult:
    request_id: int
    sketch: np.ndarray  # the network input (canonical frame)
    photo: np.ndarray | None  # None when the canvas is empty
    ms: float  # network time only
    model: str
    device_label: str
    submitted: float
    final: bool
    colour: bool
    canvas: np.ndarray | None = None  # the image this inversion consumed (the request's)
    variant: dict | None = None  # for a search's variant: its name, index and change
    # Where the time went, in ms: queue (waiting behind the inversion in flight),
    # preprocess, network; `emitted` is the perf_counter() when it left the worker.
    stages: dict[str, float] = field(default_factory=dict)
    emitted: float = 0.0


class InversionWorker(QObject):
    """Lives on the inversion thread; holds the Inverter. Talk to it only via signals."""

    yielded = Signal(object)  # InversionResult
    errored = Signal(object)
    model_loaded = Signal(object)  # ModelStatus | None
    measuring = Signal(str)  # the model whose engines are being timed (first start)

    _wake = Signal()
    _load = Signal(str, str, str, str)

    def __init__(self) -> None:
        super().__init__()
        self._lock = threading.Lock()
        self._pending: InversionRequest | None = None
        self._last: InversionRequest | None = None
        self._inverter: Any = None
        self._model_name = ""
        self._quitting = False
        self.stopped_previews = 0  # live previews that gave way to a final request
        self._wake.connect(self._serve)
        self._load.connect(self._load_model)

    # called from the UI thread --------------------------------------------------------
    def submit(self, request: InversionRequest) -> None:
        with self._lock:
            self._pending = request  # a newer request replaces any not yet started
        self._wake.emit()

    def request_model(self, model: str, device: str, precision: str = "auto",
                      engine: str = "auto") -> None:
        self._load.emit(model, device, precision, engine)

    def quit(self) -> None:
        with self._lock:
            self._quitting = True
            self._pending = None

    # run on the worker thread ---------------------------------------------------------
    @Slot(str, str, str, str)
    def _load_model(self, model: str, device: str, precision: str, engine: str) -> None:
        from sketchlab.core.engine_trial import measure_once
        from sketchlab.core.inference import Inverter
        from sketchlab.core.model_catalog import describe, resolve_model

        keep_python_thread_state()  # the inversion thread: see ui/thread_state.py
        if self._quitting:
            return
        self._inverter = None
        try:
            path = resolve_model(model or None)
            info = describe(path)
            # first start on this machine: a few seconds; the pen keeps drawing meanwhile
            measure_once(path, engine, device, lambda: self.measuring.emit(info.name))
            inverter = Inverter(path, device=device, precision=precision, engine=engine)
        except Exception as exc:
            log.warning("could not load model %r on %s: %s", model, device, exc)
            self.model_loaded.emit(None)
            self.errored.emit(exc)
            return
        self._inverter, self._model_name = inverter, info.name
        log.info("model %s loaded on %s", info.name, inverter.device_label)
        self.model_loaded.emit(ModelStatus(info.name, path, inverter.sha256,
                                           inverter.device_label, inverter.resolution,
                                           inverter))
        with self._lock:
            if self._pending is None and self._last is not None:
                self._pending = self._last  # show the current sketch through the new model
        self._serve()

    @Slot()
    def _serve(self) -> None:
        keep_python_thread_state()
        with self._lock:
            req, self._pending = self._pending, None
            if self._quitting:
                return
        if req is None or self._inverter is None:
            if req is not None:
                self._last = req
            return
        self._last = req
        try:
            result = self._invert(req)
            if result is not None:  # None: a live preview stopped for a pen-up's request
                self.yielded.emit(replace(result, emitted=time.perf_counter()))
        except Exception as exc:
            log.exception("inversion failed")
            self.errored.emit(exc)

    def _final_waiting(self) -> bool:
        """Whether a final (pen-up, undo, ...) request waits behind the one in flight."""
        pending = self._pending  # one reference read; no lock needed to peek
        return pending is not None and pending.final

    def _invert(self, req: InversionRequest) -> InversionResult | None:
        """Preprocess and invert `req`; a live preview gives way (None) to a final request
        submitted meanwhile, between the network's stages."""
        from sketchlab.core.preprocess import prepare_sketch

        inv = self._inverter
        t0 = time.perf_counter()
        prep = prepare_sketch(req.image, frame=inv.resolution, source="canvas",
                              style=req.style)  # type: ignore[arg-type]
        t1 = time.perf_counter()
        if prep.empty:
            photo = None
        elif req.final:
            photo = inv.invert(prep.image)
        else:
            photo = inv.invert_unless(prep.image, self._final_waiting)
            if photo is None:
                self.stopped_previews += 1
                return None
        t2 = time.perf_counter()
        stages = {"queue": (t0 - req.submitted) * 1000, "preprocess": (t1 - t0) * 1000,
                  "network": (t2 - t1) * 1000}
        return InversionResult(req.id, prep.image, photo, 0.0 if prep.empty else inv.last_ms,
                               self._model_name, inv.device_label, req.submitted, req.final,
                               prep.colour, canvas=req.image, stages=stages)


class InversionService(QObject):
    """UI-side handle of the long-lived inversion thread."""

    result = Signal(object)  # InversionResult
    model_changed = Signal(object)  # ModelStatus | None
    measuring = Signal(str)  # timing the engines for this model (first start on a machine)
    error = Signal(object)  # Exception

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._next_id = 0
        self.status: ModelStatus | None = None
        self._thread = QThread()
        self._thread.setObjectName("inversion")
        self._worker = InversionWorker()
        self._worker.moveToThread(self._thread)
        self._worker.yielded.connect(self.result)
        self._worker.errored.connect(self.error)
        self._worker.model_loaded.connect(self._on_model)
        self._worker.measuring.connect(self.measuring)
        _LIVE.add(self._thread)
        self._thread.start()

    def _on_model(self, status: ModelStatus | None) -> None:
        self.status = status
        self.model_changed.emit(status)

    @property
    def latest_id(self) -> int:
        """Id of the newest request; a result with this id shows the current canvas."""
        return self._next_id

    def load_model(self, model: str, device: str = "auto", precision: str = "auto",
                   engine: str = "auto") -> None:
        self._worker.request_model(model, device, precision, engine)

    def submit(self, image: np.ndarray, style: str = "auto", final: bool = False) -> int:
        self._next_id += 1
        self._worker.submit(InversionRequest(self._next_id, image, style, time.perf_counter(),
                                             final))
        return self._next_id

    def shutdown(self, timeout_ms: int = 10000) -> None:
        """Stop after the inversion in flight (if any); safe to call twice."""
        if not self._thread.isRunning():
            _forget(self._thread)
            return
        self._worker.quit()
        self._thread.quit()
        if not self._thread.wait(timeout_ms):
            log.error("inversion thread did not stop within %d ms", timeout_ms)
        _forget(self._thread)
