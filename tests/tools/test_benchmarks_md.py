"""tools/benchmarks_md.py: every section of a bench result lands in its table."""

import json
import subprocess
import sys
from pathlib import Path

from tools.benchmarks_md import render

ROOT = Path(__file__).resolve().parents[2]

RESULT = {
    "run": {"measured_at": "2026-12-04 22:40 UTC", "command": "sketchlab bench --json",
            "options": {"only": "invert,case", "quick": True}, "load_avg_1m_start": 1.5,
            "load_avg_1m_end": 1.7},
    "invert": {"cpu": {"median_ms": 24.61, "p90_ms": 26.7, "resolution": [160, 128],
                       "precision": "bf16"}},
    "model": {"name": "sketchlab-default", "params": 1113459, "gflops": 4.087,
              "sha256": "ab" * 32},
    "search_10m": {"sizes": {"1000000": {
        "exact": {"median_ms": 25.5, "p90_ms": 30.1, "recall_at_10": 1.0, "memory_mb": 524.3},
        "ann_faiss_ivf": {"median_ms": 5.7, "p90_ms": 6.9, "recall_at_10": 0.996,
                          "build_s": 5.3, "memory_mb": 648.0}}}},
    "case": {"verify": {"median_ms": 10.3, "p90_ms": 10.8}, "bundle_kib": 3869.1},
    "engines": {"fastest": "OpenVINO bf16", "machine": "AMD EPYC|2|avx2 avx512_bf16",
                "trials": {
                    "openvino bf16": {"ms": 13.9, "ms_p90": 15.2, "ms_batch8": 107.0,
                                      "mean_diff": 0.61, "max_diff": 14, "ok": True},
                    "onnxruntime int8": {"ms": 11.8, "ms_p90": 12.5, "ms_batch8": 90.1,
                                         "mean_diff": 2.5, "max_diff": 41, "ok": False,
                                         "error": "int8 not offered: below fp32"}}},
    "machine": {"cpu": "AMD EPYC", "cpu_count": 2, "python": "3.11.7", "torch": "2.14.1",
                "torch_threads": 2, "cpu_flags": "avx2 fma avx512f avx512_bf16"},
    "query": {"median_ms": 812.4, "p90_ms": 901.0, "kind": "adapted", "variants": 8,
              "sketches": 8, "stages_ms": {"align": 60.1, "invert": 420.5, "embed": 300.2},
              "engine": "CPU, PyTorch (2 threads, bf16)", "precision": "bf16",
              "model": "sketchlab-default"},
    "search_1m": {"median_ms": 27.7, "p90_ms": 30.6, "matrix_mb": 524.0, "n": 1_000_000,
                  "k": 10, "load_avg_1m": 0.7},
    "search_1m_two_way": {"median_ms": 55.1, "p90_ms": 60.2, "matrix_mb": 1048.0,
                          "n": 1_000_000, "k": 10, "load_avg_1m": 0.7},
    "new_section": {"x": 1},
}


def test_sections_render_their_figures():
    page = render(RESULT)
    assert "| cpu | bf16 | 160x128 | 24.6 ms | 26.7 ms |" in page
    assert "| 1,000,000 | faiss IVF (local) | 0.996 | 5.7 ms | 6.9 ms | 5.3 s | 648.0 MB |" in page
    assert "| verify the case | 10.3 ms | 10.8 ms |" in page
    assert "| openvino bf16 | 13.9 ms | 15.2 ms | 107.0 ms | 0.61 / 14 | yes |" in page
    assert "| onnxruntime int8 | 11.8 ms | 12.5 ms | 90.1 ms | 2.5 / 41 | no: int8 not offered" \
        in page
    assert "| 812.4 ms | 901.0 ms | align 60.1 ms, invert 420.5 ms, embed 300.2 ms |" in page
    assert "`sketchlab-default` (8 variants, adapted)" in page
    assert "| CPU flags that matter here | avx2 fma avx512f avx512_bf16 |" in page
    assert "| options | `--only invert,case --quick` |" in page
    assert "2026-12-04 22:40 UTC" in page and "AMD EPYC, 2 CPUs, no GPU" in page
    assert "| one way | 1,000,000 | 524.0 MB | 27.7 ms | 30.6 ms | 0.7 |" in page
    assert "| two ways | 1,000,000 | 1,048.0 MB | 55.1 ms | 60.2 ms | 0.7 |" in page
    assert '## new_section' in page and '"x": 1' in page  # unknown keys are not dropped
    assert "## Enrolment" not in page  # sections the run left out are absent


def test_command_line_writes_the_page(tmp_path):
    src = tmp_path / "bench.json"
    src.write_text(json.dumps(RESULT), encoding="utf-8")
    out = tmp_path / "benchmarks.md"
    subprocess.run([sys.executable, str(ROOT / "tools" / "benchmarks_md.py"), str(src),
                    "-o", str(out)], check=True)
    assert out.read_text(encoding="utf-8") == render(RESULT, str(src))
