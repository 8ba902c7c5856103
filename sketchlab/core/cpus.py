"""How many CPU cores this process may use (its affinity mask, not the machine's count)."""

from __future__ import annotations

import os


def usable_cores() -> int:
    """Cores this process may run on: a container or `taskset` limit counts, hyper-threads
    and cores outside the mask do not."""
    n = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return max(1, n or 1)
