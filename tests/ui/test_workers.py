"""Workers report through signals, stop cooperatively, and leaks are detected."""

from __future__ import annotations

import threading

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QWidget

from sketchlab.ui.workers import live_threads, start_worker
from tests.ui.conftest import leaks


def _count(n: int, cancel: threading.Event, progress):
    for i in range(n):
        if cancel.wait(0.01):
            return "stopped"
        progress(i)
    return "done"


def test_worker_signals_and_result(qtbot):
    seen = []
    w = start_worker(_count, 5, connect={"yielded": seen.append})
    with qtbot.waitSignal(w.returned, timeout=5000) as blocker:
        pass
    assert blocker.args == ["done"]
    qtbot.waitUntil(lambda: not live_threads(), timeout=5000)
    assert seen == [0, 1, 2, 3, 4]


def test_worker_quits_cooperatively(qtbot):
    w = start_worker(_count, 10_000)
    with qtbot.waitSignal(w.returned, timeout=5000) as blocker:
        w.quit()
    assert blocker.args == ["stopped"]
    assert w.wait(5000)


def test_worker_error_reaches_errored(qtbot):
    def boom():
        raise ValueError("bad input")

    w = start_worker(boom)
    with qtbot.waitSignal(w.errored, timeout=5000) as blocker:
        pass
    assert isinstance(blocker.args[0], ValueError)
    w.wait(5000)


def test_leak_check_sees_running_thread_and_timer(qtbot):
    before = {t.ident for t in threading.enumerate()}
    gate = threading.Event()
    w = start_worker(lambda: gate.wait(10))
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


def test_generator_jobs_yield(qtbot):
    def gen():
        yield from range(3)
        return "end"

    seen = []
    w = start_worker(gen, connect={"yielded": seen.append})
    with qtbot.waitSignal(w.returned, timeout=5000) as blocker:
        pass
    assert blocker.args == ["end"] and seen == [0, 1, 2]
    w.wait(5000)
