"""Background jobs that call dlib run again and again on Qt's pool threads.

Without `keep_python_thread_state` the second face descriptor computed on a pool thread
deadlocked or crashed the process (PySide deletes the thread state dlib's bindings kept);
the app's search crashed that way under a real X server. Run in a fresh interpreter, so
a crash fails this test instead of ending the test run."""

import subprocess
import sys

SCRIPT = r"""
import time

import numpy as np
from PySide6.QtCore import QCoreApplication
from superqt.utils import create_worker

from sketchlab.core.matching import embed_aligned
from sketchlab.ui.workers import Job

app = QCoreApplication([])
face = np.full((160, 128, 3), 200, np.uint8)
face[60:100, 30:100] = 90
found = []
for i in range(4):
    # connected before the start, as the app does: Job.start runs at once, so a slot
    # connected after it can miss a quick job's result
    job = create_worker(embed_aligned, face, _worker_class=Job, _start_thread=False)
    job.returned.connect(found.append)
    job.errored.connect(lambda exc: print("errored:", repr(exc), flush=True))
    job.start()
    assert job.wait(60000)
    # the result is a queued signal: it reaches this thread some time after wait()
    deadline = time.monotonic() + 30
    while len(found) < i + 1 and time.monotonic() < deadline:
        QCoreApplication.processEvents()
        time.sleep(0.001)
print("descriptors", len(found), found[-1].shape, flush=True)
"""


def test_dlib_on_pool_threads_job_after_job():
    out = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True,
                         timeout=240)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == "descriptors 4 (128,)"
