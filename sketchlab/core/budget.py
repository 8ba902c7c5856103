"""Time budgets for work on untrusted files (image decoding, face detection).

The work runs on a helper thread and the caller waits at most `seconds`. Python cannot
kill a thread, so what bounds the work itself is the size checks made before it starts
(pixels, decoded bytes, detector input); the budget turns a file that still takes too
long into a clear error instead of a frozen command or window.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


class BudgetExceeded(TimeoutError):
    """The work did not finish within its time budget."""


def run_within(seconds: float, fn: Callable[[], T], what: str) -> T:
    """fn() on a daemon thread; its result or exception, or BudgetExceeded after `seconds`."""
    box: dict[str, object] = {}
    done = threading.Event()

    def target() -> None:
        try:
            box["value"] = fn()
        except BaseException as exc:  # handed to the caller below
            box["error"] = exc
        finally:
            done.set()

    threading.Thread(target=target, name=f"budget:{what}", daemon=True).start()
    if not done.wait(seconds):
        raise BudgetExceeded(f"{what} took longer than {seconds:g} s")
    if "error" in box:
        raise box["error"]  # type: ignore[misc]
    return box["value"]  # type: ignore[return-value]
