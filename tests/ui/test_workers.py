"""Workers report through signals, stop cooperatively, and leaks are detected.

Slots are connected through create_worker(_connect=...), before the job starts: a fast
job can finish before a connection made after it has started.
"""

from __future__ import annotations

import threading

from PySide6.QtCore import QThreadPool, QTimer
from PySide6.QtWidgets import QWidget
from superqt.utils import create_worker

from sketchlab.ui.workers import Job, running_jobs, wait_for_all
from tests.ui.conftest import leaks


def _count(n: int, cancel: threading.Event, progress):
    for i in range(n):
        if cancel.wait(0.01):
            return "stopped"
        progress(i)
    return "done"


def _run(qtbot, fn, *args, quit_after_start: bool = False):
    got: dict[str, list] = {"yielded": [], "returned": [], "errored": [], "finished": []}
    connect = {k: (lambda v=None, k=k: got[k].append(v)) for k in got}
    w = create_worker(fn, *args, _worker_class=Job, _connect=connect)
    if quit_after_start:
        w.quit()
    qtbot.waitUntil(lambda: bool(got["finished"]), timeout=10000)
    assert w.wait(5000)
    return got


def test_worker_signals_and_result(qtbot):
    got = _run(qtbot, _count, 5)
    assert got["yielded"] == [0, 1, 2, 3, 4] and got["returned"] == ["done"]
    qtbot.waitUntil(lambda: not running_jobs(), timeout=5000)


def test_worker_quits_cooperatively(qtbot):
    got = _run(qtbot, _count, 10_000, quit_after_start=True)
    assert got["returned"] == ["stopped"] and len(got["yielded"]) < 10_000


def test_worker_error_reaches_errored(qtbot):
    def boom():
        raise ValueError("bad input")

    got = _run(qtbot, boom)
    assert isinstance(got["errored"][0], ValueError) and got["returned"] == []


def test_generator_jobs_yield(qtbot):
    """A generator is superqt's own GeneratorWorker (it stops at a yield, no Event needed)."""
    def gen():
        yield from range(3)
        return "end"

    got: dict[str, list] = {"yielded": [], "returned": [], "finished": []}
    create_worker(gen, _connect={k: (lambda v=None, k=k: got[k].append(v)) for k in got})
    qtbot.waitUntil(lambda: bool(got["finished"]), timeout=10000)
    assert got["returned"] == ["end"] and got["yielded"] == [0, 1, 2]
    qtbot.waitUntil(lambda: QThreadPool.globalInstance().activeThreadCount() == 0,
                    timeout=5000)


def test_leak_check_sees_running_thread_and_timer(qtbot):
    before = {t.ident for t in threading.enumerate()}
    gate = threading.Event()
    w = create_worker(lambda: gate.wait(10), _worker_class=Job, _start_thread=True)
    host = QWidget()
    qtbot.addWidget(host)
    timer = QTimer(host)
    timer.setObjectName("forgotten")
    timer.start(1000)
    found = leaks(before)
    assert any("still running" in p for p in found)
    assert any("forgotten" in p for p in found)
    gate.set()
    timer.stop()
    w.wait(5000)
    qtbot.waitUntil(lambda: not leaks(before), timeout=5000)


def test_inversion_serves_only_the_newest_request(qtbot, tiny_model):
    import numpy as np

    from sketchlab.ui.workers import InversionService

    service = InversionService()
    with qtbot.waitSignal(service.model_changed, timeout=10000):
        service.load_model(str(tiny_model), "cpu")
    gate, started = threading.Event(), threading.Event()
    real = service._worker._invert

    def slow_first(req):
        if req.id == 1:
            started.set()
            gate.wait(10)
        return real(req)

    service._worker._invert = slow_first
    results = []
    service.result.connect(results.append)
    canvas = np.full((640, 512, 3), 255, np.uint8)
    canvas[300:310, 100:400] = 0
    service.submit(canvas)
    assert started.wait(10)  # request 1 is on the network now
    for _ in range(3):
        service.submit(canvas)  # 2 and 3 are superseded before the worker is free
    gate.set()
    qtbot.waitUntil(lambda: len(results) == 2, timeout=10000)
    qtbot.wait(100)
    assert [r.request_id for r in results] == [1, 4]
    assert results[-1].photo.shape == (64, 48, 3)
    service.shutdown()


def test_connect_callables_run_on_the_ui_thread(qtbot):
    """Closures in connect= must not run on the worker thread (they touch widgets)."""
    ui = threading.get_ident()
    where: dict[str, int] = {}
    connect = {name: (lambda *a, n=name: where.__setitem__(n, threading.get_ident()))
               for name in ("started", "yielded", "returned", "finished")}

    def job(progress):
        progress(1)
        return threading.get_ident()

    got = []
    connect["returned"] = lambda r: (got.append(r), where.__setitem__("returned",
                                                                     threading.get_ident()))
    w = create_worker(job, _worker_class=Job, _connect=connect)
    qtbot.waitUntil(lambda: "finished" in where, timeout=10000)
    w.wait(5000)
    assert got and got[0] != ui  # the job itself ran elsewhere
    assert set(where.values()) == {ui}, where


def test_jobs_never_queue_behind_each_other(qtbot):
    """More blocking jobs than cores all run at once (an enrolment must not hold up a search)."""
    gate = threading.Event()
    running: list[int] = []
    lock = threading.Lock()

    def blocker():
        with lock:
            running.append(1)
        gate.wait(10)

    jobs = [create_worker(blocker, _worker_class=Job, _start_thread=True) for _ in range(6)]
    try:
        qtbot.waitUntil(lambda: len(running) == 6, timeout=5000)
    finally:
        gate.set()
        for j in jobs:
            assert j.wait(5000)
    qtbot.waitUntil(lambda: not running_jobs(), timeout=5000)


def test_a_job_waited_for_at_once_runs(qtbot):
    """Started inside the event loop and waited for at once (a closing window does that),
    a job runs now: its start is not left to a timer the waiting thread cannot fire."""
    waited: list[bool] = []

    def start_and_wait() -> None:
        job = create_worker(lambda: 7, _worker_class=Job, _start_thread=True)
        waited.append(job.wait(2000))

    QTimer.singleShot(0, start_and_wait)
    qtbot.waitUntil(lambda: len(waited) > 0, timeout=5000)
    assert waited == [True]
    qtbot.waitUntil(lambda: not running_jobs(), timeout=5000)


def test_wait_for_all_stops_jobs_at_exit(qtbot):
    """At exit every job is asked to stop and waited for, so none outlives Qt."""
    got: list = []
    w = create_worker(_count, 100_000, _worker_class=Job,
                      _connect={"returned": got.append})
    qtbot.waitUntil(lambda: w.is_running, timeout=5000)
    assert wait_for_all(5000)
    assert w.cancelled and w.wait(0)
    qtbot.waitUntil(lambda: got == ["stopped"] and not running_jobs(), timeout=5000)


def _gated_service(qtbot, tiny_model):
    """A service whose network blocks in its first stage until `gate` is set."""
    from sketchlab.ui.workers import InversionService

    service = InversionService()
    with qtbot.waitSignal(service.model_changed, timeout=10000):
        service.load_model(str(tiny_model), "cpu", "auto")
    inv = service._worker._inverter
    gate, started = threading.Event(), threading.Event()
    first, ran = inv.engine.stages[0], []

    def blocking_first(x):
        ran.append(1)
        if len(ran) == 1:
            started.set()
            gate.wait(10)
        return first(x)

    inv.engine.stages = [blocking_first, *inv.engine.stages[1:]]
    return service, gate, started


def _canvas():
    import numpy as np

    canvas = np.full((640, 512, 3), 255, np.uint8)
    canvas[300:310, 100:400] = 0
    return canvas


def test_a_pen_up_stops_the_live_preview_in_flight(qtbot, tiny_model):
    service, gate, started = _gated_service(qtbot, tiny_model)
    results = []
    service.result.connect(results.append)
    service.submit(_canvas(), final=False)
    assert started.wait(10)  # the live preview is on the network
    service.submit(_canvas(), final=True)
    gate.set()
    qtbot.waitUntil(lambda: len(results) == 1, timeout=10000)
    qtbot.wait(100)
    assert [(r.request_id, r.final) for r in results] == [(2, True)]  # no stale preview
    assert results[0].photo is not None
    service.shutdown()


def test_a_newer_live_preview_does_not_stop_the_one_in_flight(qtbot, tiny_model):
    """On a slow machine, previews that stopped each other would never show anything."""
    service, gate, started = _gated_service(qtbot, tiny_model)
    results = []
    service.result.connect(results.append)
    service.submit(_canvas(), final=False)
    assert started.wait(10)
    service.submit(_canvas(), final=False)
    gate.set()
    qtbot.waitUntil(lambda: len(results) == 2, timeout=10000)
    assert [r.request_id for r in results] == [1, 2]
    service.shutdown()
