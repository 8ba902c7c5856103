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


# The instruction sets that decide which engine and precision is fastest.
KEY_FLAGS = ("avx2", "fma", "avx512f", "avx512_vnni", "avx512_bf16", "amx_tile", "amx_bf16")
# Variables that make a library use fewer of them (to measure an AVX2-only CPU on a newer
# one): part of a machine's identity for remembered measurements.
ISA_MASKS = ("ATEN_CPU_CAPABILITY", "ONEDNN_MAX_CPU_ISA", "DNNL_MAX_CPU_ISA")


def cpu_flags() -> tuple[str, ...]:
    """The `KEY_FLAGS` this CPU has (Linux /proc/cpuinfo; empty elsewhere)."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("flags"):
                    have = set(line.split(":", 1)[1].split())
                    return tuple(f for f in KEY_FLAGS if f in have)
    except OSError:
        pass
    return ()


def bf16_masked() -> bool:
    """Whether $ONEDNN_MAX_CPU_ISA keeps oneDNN below AVX512-BF16 (measuring an older CPU
    on a newer one): bf16 is then emulated, not native."""
    mask = os.environ.get("ONEDNN_MAX_CPU_ISA", "").upper()
    return mask.startswith(("SSE", "AVX2", "AVX512_CORE_VNNI")) or mask in ("AVX",
                                                                             "AVX512_CORE")


def native_bf16_flags() -> bool:
    """bf16 in hardware (AVX512-BF16 or AMX) by the CPU's flags, unless masked (torch-free;
    PyTorch asks its own probes, `engine_torch.native_bf16`)."""
    return not bf16_masked() and bool({"avx512_bf16", "amx_bf16"} & set(cpu_flags()))


def machine_key() -> str:
    """What a speed measurement holds for: the CPU, its usable cores, its key flags and
    any ISA mask in force. Two machines with the same key run an engine alike."""
    masks = [f"{k}={os.environ[k]}" for k in ISA_MASKS if os.environ.get(k)]
    gpu = os.path.exists("/dev/nvidiactl") or bool(os.environ.get("CUDA_VISIBLE_DEVICES"))
    return " | ".join([cpu_name(), f"{usable_cores()} cores", " ".join(cpu_flags()) or "-",
                       *masks, *(["nvidia"] if gpu else [])])
