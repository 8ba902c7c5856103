"""Drive the real app from a script (the screenshot makers): wait for a condition, let it paint.

The scripts in this folder run as scripts (`python tools/screenshot.py`) and import it by
name: Python puts a script's own folder first on sys.path.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the scripts import this before they start Qt (and in spawned workers)
    from PySide6.QtWidgets import QApplication


def wait_for(app: QApplication, cond: Callable[[], object], timeout: float, what: str) -> None:
    """Run the event loop until `cond()` holds; exit with a message after `timeout` s."""
    end = time.time() + timeout
    while not cond():
        if time.time() > end:
            raise SystemExit(f"timed out waiting for {what}")
        app.processEvents()
        time.sleep(0.01)


def settle(app: QApplication, seconds: float) -> None:
    """Run the event loop for `seconds`, so every pane repaints at its final size (an X
    server with no window manager maps and paints a window only as events are handled)."""
    end = time.time() + seconds
    while time.time() < end:
        app.processEvents()
        time.sleep(0.02)
