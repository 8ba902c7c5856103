"""Keep a Python thread state for the life of a Qt-made thread.

PySide runs Python on threads Qt made (QThread, QThreadPool) by creating a Python thread
state for each call from Qt and deleting it when the call returns. Extension modules
that cache the thread state of "their" thread (dlib's and torch's pybind11 bindings do)
then hold a dangling pointer: the next search crashed in dlib's face descriptor
("take_gil", segmentation fault), and OpenVINO's objects freed with the deleted state
crashed too. One extra, never released PyGILState_Ensure per thread keeps its state
alive until the thread ends, as for a thread Python made itself.
"""

from __future__ import annotations

import ctypes
import threading

_kept = threading.local()  # lives in the thread state it keeps: set once per thread


def keep_python_thread_state() -> None:
    """Call at the start of work on a Qt-made thread (cheap after the first time)."""
    if getattr(_kept, "done", False):
        return
    ctypes.pythonapi.PyGILState_Ensure.restype = ctypes.c_int
    ctypes.pythonapi.PyGILState_Ensure()  # never released: the state outlives this call
    _kept.done = True
