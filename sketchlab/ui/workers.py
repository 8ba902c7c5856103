"""Background work the Qt way: QObjects on QThreads that report through signals.

Two kinds, following superqt/napari's signal names (started, yielded, returned, errored,
finished) so every job reads the same:

* `Worker` runs one function (or generator) once, on a fresh QThread, and can be asked to
  stop cooperatively: a function that takes a `cancel` keyword gets a threading.Event,
  one that takes `progress` gets a callback that emits `yielded`.
* `InversionService` owns one long-lived `InversionWorker` on its own thread. The model
  stays loaded there, only the newest request is served (stale ones are dropped, never
  queued), and the UI thread never waits on the network.

Every thread started here is registered, so `live_threads()` can prove (in tests and at
shutdown) that nothing was left running.
"""

from __future__ import annotations

import inspect
import logging
import threading
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
from PySide6.QtCore import QObject, Qt, QThread, Signal, Slot

log = logging.getLogger(__name__)

_LIVE: set[QThread] = set()  # strong refs: Python must not collect a running QThread
_KEEP: dict[int, QObject] = {}  # workers kept alive until their thread ends


def live_threads() -> list[QThread]:
    """Threads started by this module that are still running."""
    return [t for t in list(_LIVE) if t.isRunning()]


def wait_for_all(timeout_ms: int = 10000) -> bool:
    """At exit: let jobs that were let go of (a cancelled import) reach their next check,
    so no QThread is destroyed while running. True when all ended in time."""
    deadline = time.monotonic() + timeout_ms / 1000
    for t in live_threads():
        left = max(0, int((deadline - time.monotonic()) * 1000))
        if not t.wait(left):
            log.error("thread %s still running at exit", t.objectName())
            return False
    return True


def _forget(thread: QThread) -> None:
    _LIVE.discard(thread)
    _KEEP.pop(id(thread), None)


class Worker(QObject):
    """Run `fn(*args, **kwargs)` once on its own QThread; see module doc for the signals."""

    started = Signal()
    yielded = Signal(object)
    returned = Signal(object)
    errored = Signal(object)  # the exception
    finished = Signal()

    def __init__(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
        super().__init__()
        self._fn, self._args, self._kwargs = fn, args, kwargs
        self._cancel = threading.Event()
        try:
            params = inspect.signature(fn).parameters
        except (TypeError, ValueError):
            params = {}
        if "cancel" in params:
            self._kwargs["cancel"] = self._cancel
        if "progress" in params and "progress" not in kwargs:
            self._kwargs["progress"] = self.yielded.emit  # safe from any thread
        self.thread_: QThread | None = None
        self._relay: _Relay | None = None  # set by start_worker

    @property
    def cancelled(self) -> bool:
        return self._cancel.is_set()

    def quit(self) -> None:
        """Ask the job to stop at its next check; it still emits `finished`."""
        self._cancel.set()

    def disown(self) -> None:
        """Cancel and drop every callback given to `start_worker`, without waiting.

        For a caller that is going away (a dialog the user cancelled): the job ends on
        its own at its next cancel check, and nothing it reports reaches the caller,
        whose widgets may already be deleted.
        """
        self._cancel.set()
        if self._relay is not None:
            self._relay.drop_callbacks()

    def wait(self, timeout_ms: int = 5000) -> bool:
        t = self.thread_
        if t is None:
            return True
        try:
            return t.wait(timeout_ms)
        except RuntimeError:  # the C++ thread object is already gone: it ended
            return True

    @Slot()
    def run(self) -> None:
        # Not niced: a low-priority thread that holds the GIL would stall the UI and the
        # inversion threads (priority inversion). Background *processes* are niced instead
        # (gallery enrolment, see gallery_dialog.BACKGROUND_NICE).
        self.started.emit()
        try:
            result = self._fn(*self._args, **self._kwargs)
            if inspect.isgenerator(result):
                try:
                    while True:
                        if self._cancel.is_set():
                            result.close()
                            result = None
                            break
                        self.yielded.emit(next(result))
                except StopIteration as stop:
                    result = stop.value
            self.returned.emit(result)
        except Exception as exc:  # reported to the UI, never swallowed
            log.exception("background job %s failed", getattr(self._fn, "__name__", self._fn))
            self.errored.emit(exc)
        finally:
            self.finished.emit()


class _Relay(QObject):
    """Delivers a worker's signals to plain callables on the thread that started it.

    PySide calls a plain function or lambda connected to a signal *in the emitting
    thread*, so `connect={'returned': lambda r: label.setText(...)}` would touch widgets
    from the worker thread and crash. The relay is a QObject living on the starting
    (UI) thread, so Qt queues each signal to it; it keeps itself alive until `finished`,
    the last signal a Worker emits, has been delivered.
    """

    def __init__(self, slots: dict[str, Callable[..., Any]]) -> None:
        super().__init__()
        self._slots = slots
        _RELAYS.add(self)

    def drop_callbacks(self) -> None:
        self._slots = {}

    def _call(self, name: str, *args: Any) -> None:
        fn = self._slots.get(name)
        if fn is not None:
            fn(*args)

    @Slot()
    def on_started(self) -> None:
        self._call("started")

    @Slot(object)
    def on_yielded(self, value: object) -> None:
        self._call("yielded", value)

    @Slot(object)
    def on_returned(self, value: object) -> None:
        self._call("returned", value)

    @Slot(object)
    def on_errored(self, exc: object) -> None:
        self._call("errored", exc)

    @Slot()
    def on_finished(self) -> None:
        try:
            self._call("finished")
        finally:
            _RELAYS.discard(self)


_RELAYS: set[_Relay] = set()


def start_worker(fn: Callable[..., Any], *args: Any, connect: dict[str, Callable] | None = None,
                 **kwargs: Any) -> Worker:
    """Create a Worker, connect `connect={'returned': slot, ...}`, and start it on a new thread.

    The `connect` callables run on the calling (UI) thread whatever they are (bound
    methods, closures, lambdas), and are connected before the thread starts, so no
    signal can be missed.
    """
    unknown = set(connect or {}) - {"started", "yielded", "returned", "errored", "finished"}
    if unknown:
        raise ValueError(f"unknown worker signals: {sorted(unknown)}")
    worker = Worker(fn, *args, **kwargs)
    relay = _Relay(dict(connect or {}))
    worker._relay = relay
    for name in ("started", "yielded", "returned", "errored", "finished"):
        getattr(worker, name).connect(getattr(relay, f"on_{name}"))
    thread = QThread()
    thread.setObjectName(f"worker:{getattr(fn, '__name__', 'job')}")
    worker.moveToThread(thread)
    worker.thread_ = thread
    thread.started.connect(worker.run)
    # Direct: QThread.quit is thread-safe, and a queued call would need the UI event loop,
    # so wait() from the UI thread could never return.
    worker.finished.connect(thread.quit, Qt.ConnectionType.DirectConnection)
    ref = weakref.ref(thread)
    thread.finished.connect(lambda: (t := ref()) is not None and _forget(t))
    _LIVE.add(thread)
    _KEEP[id(thread)] = worker
    thread.start()
    return worker


# --- live inversion ---------------------------------------------------------------------


@dataclass(frozen=True)
class ModelStatus:
    """What the photo pane and About box show about the loaded model."""

    name: str
    path: Path
    sha256: str
    device_label: str
    resolution: tuple[int, int]


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

    started = Signal()
    yielded = Signal(object)  # InversionResult
    returned = Signal(object)
    errored = Signal(object)
    finished = Signal()
    model_loaded = Signal(object)  # ModelStatus | None

    _wake = Signal()
    _load = Signal(str, str, str)

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

    def request_model(self, model: str, device: str, precision: str = "auto") -> None:
        self._load.emit(model, device, precision)

    def quit(self) -> None:
        with self._lock:
            self._quitting = True
            self._pending = None

    # run on the worker thread ---------------------------------------------------------
    @Slot(str, str, str)
    def _load_model(self, model: str, device: str, precision: str) -> None:
        from sketchlab.core.inference import Inverter
        from sketchlab.core.model_catalog import describe, resolve_model

        if self._quitting:
            return
        self._inverter = None
        try:
            path = resolve_model(model or None)
            info = describe(path)
            inverter = Inverter(path, device=device, precision=precision)
        except Exception as exc:
            log.warning("could not load model %r on %s: %s", model, device, exc)
            self.model_loaded.emit(None)
            self.errored.emit(exc)
            return
        self._inverter, self._model_name = inverter, info.name
        log.info("model %s loaded on %s", info.name, inverter.device_label)
        self.model_loaded.emit(ModelStatus(info.name, path, inverter.sha256,
                                           inverter.device_label, inverter.resolution))
        with self._lock:
            if self._pending is None and self._last is not None:
                self._pending = self._last  # show the current sketch through the new model
        self._serve()

    @Slot()
    def _serve(self) -> None:
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
        _LIVE.add(self._thread)
        self._thread.start()

    def _on_model(self, status: ModelStatus | None) -> None:
        self.status = status
        self.model_changed.emit(status)

    @property
    def latest_id(self) -> int:
        """Id of the newest request; a result with this id shows the current canvas."""
        return self._next_id

    def load_model(self, model: str, device: str = "auto", precision: str = "auto") -> None:
        self._worker.request_model(model, device, precision)

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
