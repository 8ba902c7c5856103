"""The CPUs this process runs on: how many it may use, and what they are."""

from __future__ import annotations

import os


def usable_cores() -> int:
    """Cores this process may run on: a container or `taskset` limit counts, hyper-threads
    and cores outside the mask do not."""
    n = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return max(1, n or 1)


def cpu_name(default: str = "CPU") -> str:
    """The processor's model name from /proc/cpuinfo (Linux), else `default`."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return default
