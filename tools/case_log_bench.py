"""Time `CaseStore.get` and `verify` on a long case: N sketch versions, N inversions and
N 10-candidate searches (3N+1 entries), with whichever SketchLab is importable, so the
same script measures an older checkout (mirror tables) against this one (log only).

    nice -n 19 .venv/bin/python tools/case_log_bench.py 150
    (cd OLD_CHECKOUT && nice -n 19 .venv/bin/python /path/to/case_log_bench.py 150)
"""

from __future__ import annotations

import inspect
import io
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image

from sketchlab.cases import CaseStore, GalleryIdentity


def png(rgb: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, format="PNG")
    return buf.getvalue()


def median_ms(fn: Callable[[], object], runs: int = 7) -> float:
    fn()
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1000)
    return round(statistics.median(times), 1)


def main(n_each: int) -> dict[str, object]:
    log_only = "source" in inspect.signature(CaseStore.add_inversion).parameters
    rng = np.random.default_rng(0)
    cands = [{"rank": r, "subject": f"s{r}", "photo_sha256": f"{r:064x}", "distance": 0.4,
              "score": 0.5, "within_threshold": True} for r in range(1, 11)]
    with tempfile.TemporaryDirectory() as tmp, CaseStore(Path(tmp)) as s:
        n = s.create_case().number
        for i in range(n_each):
            img = rng.integers(0, 255, (16, 12, 3), dtype=np.uint8)
            s.add_sketch(n, png(img))
            if log_only:
                s.add_inversion(n, img, source=png(img), model_name="m", model_sha256="0" * 64,
                                device="cpu", ms=1.0, input_image=img)
            else:  # the schema-1 API
                s.add_inversion(n, i + 1, img, "m", "0" * 64, "cpu", 1.0, input_image=img)
            s.add_match(n, cands, GalleryIdentity("g", "0" * 64, 100), 0.6, k=10)
        out = {"get_ms": median_ms(lambda: s.get(n)), "verify_ms": median_ms(lambda: s.verify(n))}
        assert s.verify(n).ok
    return {"code": "log-only" if log_only else "mirror tables", "entries": 3 * n_each + 1,
            **out}


if __name__ == "__main__":
    print(json.dumps(main(int(sys.argv[1]) if len(sys.argv) > 1 else 150)))
