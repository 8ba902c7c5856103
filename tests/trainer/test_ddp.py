"""DistributedDataParallel through torchrun (gloo on CPU): two ranks train and checkpoint."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_torchrun_two_cpu_ranks(tmp_path: Path) -> None:
    torchrun = Path(sys.executable).with_name("torchrun")
    if not torchrun.exists() and shutil.which("torchrun") is None:
        pytest.skip("torchrun not installed")
    rng = np.random.default_rng(0)
    rows = ["sketch,photo,identity,split"]
    for i in range(4):
        photo = cv2.GaussianBlur(rng.integers(0, 255, (40, 32, 3), dtype=np.uint8), (0, 0), 2)
        sketch = 255 - (photo.mean(axis=2) / 2).astype(np.uint8)
        cv2.imwrite(str(tmp_path / f"p{i}.png"), photo)
        cv2.imwrite(str(tmp_path / f"s{i}.png"), sketch)
        rows.append(f"s{i}.png,p{i}.png,id{i},train")
    (tmp_path / "manifest.csv").write_text("\n".join(rows) + "\n")
    cfg = tmp_path / "ddp.toml"
    cfg.write_text(f"""name = "ddp"
out_dir = "{tmp_path / 'runs'}"
cache_dir = "{tmp_path / 'cache'}"
steps = 2
batch_size = 1
checkpoint_every = 2
num_workers = 0
align_workers = 1
sample_count = 1
disc_width = 4
disc_layers = 2
[generator]
base_width = 4
n_residual = 1
height = 32
width = 24
[loss]
adv_start = 1
adv_ramp = 1
[[sources]]
name = "pairs"
manifest = "{tmp_path / 'manifest.csv'}"
""")
    env = dict(os.environ, PYTHONPATH=str(REPO), OMP_NUM_THREADS="1")
    exe = str(torchrun) if torchrun.exists() else "torchrun"
    proc = subprocess.run([exe, "--standalone", "--nproc_per_node=2", "-m", "trainer", "train",
                           "--config", str(cfg)], cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=240)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert (tmp_path / "runs" / "ddp" / "checkpoints" / "step_0000002.pt").is_file()
    assert "done:" in proc.stdout and proc.stdout.count("done:") == 1  # rank 0 reports
