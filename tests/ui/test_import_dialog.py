"""Import dialog: Cancel is immediate and safe; big photos are analysed on a small copy."""

from __future__ import annotations

import time

import cv2
import numpy as np
import pytest
from PIL import Image
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QDialogButtonBox

from sketchlab.ui import workers
from sketchlab.ui.dialogs.import_dialog import ImportDialog, analyse, load_downscaled


@pytest.fixture
def big_sketch_jpeg(tmp_path, face_sketch):
    """A 24 MP phone-style JPEG of the sketch (6000x4000, the face in the middle)."""
    page = np.full((4000, 6000, 3), 228, np.uint8)
    face = cv2.resize(face_sketch, (1600, 2000), interpolation=cv2.INTER_CUBIC)
    page[1000:3000, 2200:3800] = face
    path = tmp_path / "IMG_0001.jpg"
    Image.fromarray(page).save(path, quality=85)
    return path


def test_cancel_returns_at_once_and_the_late_result_is_dropped(qtbot, big_sketch_jpeg):
    dlg = ImportDialog(big_sketch_jpeg, (160, 128))
    dlg.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)  # as the main window opens it
    dlg.show()
    job = dlg._worker
    assert job is not None and dlg.status.text() == "Finding the face…"
    cancel = dlg.buttons.button(QDialogButtonBox.StandardButton.Cancel)
    t0 = time.perf_counter()
    cancel.click()
    elapsed = time.perf_counter() - t0
    assert elapsed < 0.5, f"Cancel took {elapsed:.2f} s"
    assert not dlg.isVisible()
    assert dlg.analysis is None
    qtbot.waitUntil(lambda: not workers.running_jobs(), timeout=60000)
    # pytest-qt fails the test on any exception raised in a slot (the old "Internal C++
    # object already deleted"); let the queued signals of the finished job arrive.
    for _ in range(5):
        qtbot.wait(20)


def test_cancel_while_realigning_keeps_only_the_newest_analysis(qtbot, big_sketch_jpeg):
    dlg = ImportDialog(big_sketch_jpeg, (160, 128))
    qtbot.addWidget(dlg)
    first = dlg._worker
    dlg.align.setCurrentIndex(1)  # a second analysis replaces the first, without waiting
    assert dlg._worker is not first and first.cancelled
    qtbot.waitUntil(lambda: dlg.analysis is not None, timeout=60000)
    assert dlg.analysis.method == "canvas"
    qtbot.waitUntil(lambda: not workers.running_jobs(), timeout=60000)


def test_big_photo_is_decoded_and_analysed_small(big_sketch_jpeg):
    rgb = load_downscaled(big_sketch_jpeg)
    assert max(rgb.shape[:2]) == 2048 and rgb.shape[0] / rgb.shape[1] == pytest.approx(2 / 3,
                                                                                      abs=0.01)
    t0 = time.perf_counter()
    a = analyse(big_sketch_jpeg, (160, 128))
    assert time.perf_counter() - t0 < 30  # was ~34 s for 31 MP before the downscaled path
    assert a is not None and a.method in ("landmarks", "ink_bbox")
    assert max(a.source.shape[:2]) <= 2048
    # the crop it found covers the face region of the page (scaled by 2048/6000)
    h, w = 160, 128
    inv = cv2.invertAffineTransform(a.matrix)
    cx, cy = inv @ np.array([w / 2, h / 2, 1.0])
    s = 2048 / 6000
    assert 2200 * s < cx < 3800 * s and 1000 * s < cy < 3000 * s


def test_cancelled_analysis_returns_none(big_sketch_jpeg):
    import threading

    ev = threading.Event()
    ev.set()
    assert analyse(big_sketch_jpeg, (160, 128), cancel=ev) is None


def test_unreadable_file_still_gets_a_readable_message(tmp_path):
    from sketchlab.core.imageio import ImageLoadError

    bad = tmp_path / "notes.jpg"
    bad.write_text("this is a renamed text file")
    with pytest.raises(ImageLoadError, match=r"notes\.jpg"):
        load_downscaled(bad)


def test_damaged_file_that_still_decodes_is_refused_in_the_dialog(qtbot, tmp_path, face_sketch):
    """A GIF with one byte of its image data changed decodes, in Pillow alone, to a
    different picture without a word; the dialog says the file is damaged instead."""
    import io

    from sketchlab.core.imageio import ImageLoadError, load_image

    buf = io.BytesIO()
    Image.fromarray(face_sketch).convert("P").save(buf, "GIF")
    data = buf.getvalue()
    path = tmp_path / "scan.gif"
    for pos in range(len(data) // 2, len(data) - 4):
        b = bytearray(data)
        b[pos] ^= 0x10
        try:
            Image.open(io.BytesIO(bytes(b))).convert("RGB")  # Pillow: no complaint
            load_image(bytes(b))
        except ImageLoadError:
            path.write_bytes(bytes(b))
            break
        except Exception:
            continue
    assert path.exists()
    dlg = ImportDialog(path, (160, 128))
    qtbot.addWidget(dlg)
    qtbot.waitUntil(lambda: dlg.error is not None, timeout=60000)
    assert dlg.analysis is None
    assert dlg.status.text().startswith("Cannot import scan.gif") and "damaged" in dlg.status.text()
    qtbot.waitUntil(lambda: not workers.running_jobs(), timeout=60000)
