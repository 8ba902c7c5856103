"""UI test fixtures: every test must leave no thread or timer running."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

UI_TEST_TIMEOUT_S = 180


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """A hung UI test (a deadlocked thread, a dialog waiting for input) fails with
    tracebacks after 3 minutes instead of stalling the whole run."""
    here = str(Path(__file__).parent)
    for item in items:
        if str(item.path).startswith(here) and item.get_closest_marker("timeout") is None:
            item.add_marker(pytest.mark.timeout(UI_TEST_TIMEOUT_S))


def leaks(threads_before: set[int]) -> list[str]:
    """Threads, pool jobs and active timers that outlived a test (empty when clean)."""
    from PySide6.QtCore import QThreadPool, QTimer
    from PySide6.QtWidgets import QApplication

    from sketchlab.ui import workers

    problems = [f"thread {t.objectName() or t} still running" for t in workers.live_threads()]
    problems += [f"job {getattr(j, 'name', j)} still running" for j in workers.running_jobs()]
    pool = QThreadPool.globalInstance()
    if pool.activeThreadCount():
        problems.append(f"{pool.activeThreadCount()} QThreadPool jobs still running")
    # _DummyThread: Python's stand-in for a foreign (Qt) thread that logged; it never
    # "ends", and the QThreads themselves are checked above.
    problems += [f"Python thread {t.name} still running" for t in threading.enumerate()
                 if t.ident not in threads_before and t.is_alive()
                 and not isinstance(t, threading._DummyThread)]
    for w in QApplication.topLevelWidgets():
        for timer in w.findChildren(QTimer):
            if timer.isActive():
                owner = timer.parent()
                problems.append(f"timer {timer.objectName() or '(unnamed)'} of "
                                f"{type(owner).__name__} in {type(w).__name__} still active")
    return problems


N_GALLERY_PHOTOS = 4


@pytest.fixture(scope="module")
def cufs_photos(shared_data):
    photos = sorted((shared_data / "cufs_cuhk" / "test" / "photos").glob("*.jpg"))
    assert len(photos) >= N_GALLERY_PHOTOS
    return photos[:N_GALLERY_PHOTOS]


@pytest.fixture
def gallery_url(tmp_path, cufs_photos):
    """A fresh gallery with a few real CUFS test photos, enrolled through the real API and
    drawn as the bundled model's two-way search draws them (as the app enrols)."""
    from sketchlab.core.model_catalog import model_drawing
    from sketchlab.db.gallery import open_gallery

    url = f"sqlite:///{tmp_path / 'gallery.sqlite'}"
    with open_gallery(url) as g:
        summary = g.enroll(cufs_photos, workers=1, drawing=model_drawing())
    assert summary.enrolled == N_GALLERY_PHOTOS
    return url


@pytest.fixture
def gallery_dialog(qtbot, tmp_path):
    """The gallery dialog on a fresh, empty gallery, its listing loaded (the enrolment
    tests)."""
    from sketchlab.ui.dialogs.gallery_dialog import GalleryDialog
    from sketchlab.ui.gallery_handle import GalleryHandle

    handle = GalleryHandle(f"sqlite:///{tmp_path / 'g.sqlite'}")
    dlg = GalleryDialog(handle)
    qtbot.addWidget(dlg)
    dlg.show()
    qtbot.waitUntil(lambda: dlg.listing is not None, timeout=60000)
    yield dlg
    dlg.close()
    handle.close()


@pytest.fixture
def panel(qtbot, tmp_path):
    """A case panel on its own case store (tests/ui/test_case_panel.py and the new-case form)."""
    from sketchlab.cases import CaseStore
    from sketchlab.ui.panels.case_panel import CasePanel

    p = CasePanel(CaseStore(tmp_path / "store"))
    qtbot.addWidget(p)
    yield p
    p.store.close()


@pytest.fixture(autouse=True)
def _no_leaks(qapp):
    """Fail a test that leaves a worker thread, a Python thread or an active timer behind.

    pytest-qt closes the test's widgets before fixtures are torn down, so this checks
    that closing a window really stops its work.
    """
    from PySide6.QtWidgets import QApplication

    from sketchlab.ui import workers

    before = {t.ident for t in threading.enumerate()}
    yield
    QApplication.processEvents()
    problems = leaks(before)
    for t in workers.live_threads():  # don't let one leak cascade into later tests
        t.quit()
        t.wait(5000)
    workers.wait_for_all(5000)
    assert not problems, "; ".join(problems)
