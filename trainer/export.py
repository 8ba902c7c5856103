"""`python -m trainer export RUN --name NAME`: a run's generator into models/, with a card.

The weights go through `sketchlab.core.checkpoint.save_generator` (safetensors, config and
SHA-256 inside), so the app loads them without the trainer. The card records what a
reader needs to trust or redo the model: data, steps, hardware, wall time, the command,
the evaluation table and the hash.
"""

from __future__ import annotations

import argparse
import json
import logging
import pickle
import shutil
import warnings
import zipfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch

from sketchlab.core import paths
from sketchlab.core.checkpoint import save_generator
from sketchlab.core.frame import SKETCH_STYLES
from sketchlab.core.model_file import read_metadata
from sketchlab.core.network import Generator, GeneratorConfig, count_parameters
from trainer.config import TrainConfig, load_config
from trainer.data.folds import held_out_fields
from trainer.evaluate import format_table
from trainer.train import latest_checkpoint

log = logging.getLogger(__name__)

_STATE_KEYS = ("config", "generator", "step")  # what export reads from a checkpoint


def load_run_state(run: str | Path) -> tuple[dict[str, Any], Path]:
    """The training state of a run directory's latest checkpoint, or of a .pt file."""
    run = Path(run)
    path = latest_checkpoint(run) if run.is_dir() else run
    if path is None or not path.is_file():
        raise FileNotFoundError(f"no training checkpoint in {run} (expected "
                                "RUN/checkpoints/step_*.pt)")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # torch's notes on pickle protocols: not ours
            state = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        # torch's own message is a page of advice on turning the safety off: not ours.
        raise ValueError(f"{path.name}: refused: it holds Python objects other than tensors "
                         "and plain values, which could run code when loaded; give a "
                         "checkpoint written by `python -m trainer train`") from exc
    except (RuntimeError, EOFError, OSError, ValueError, zipfile.BadZipFile) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ValueError(f"{path.name} is not a readable training checkpoint ({first})"
                         ) from exc
    missing = [k for k in _STATE_KEYS if not isinstance(state, dict) or k not in state]
    if missing:
        raise ValueError(f"{path.name} is not a SketchLab training checkpoint (it lacks "
                         f"{', '.join(missing)})")
    return state, path


def style_grid(cfg: TrainConfig, per_style: int = 4, seed: int = 7) -> np.ndarray | None:
    """Sketch/photo pairs for each synthetic style of the run's sources (from the cache)."""
    from trainer.data.align_cache import load_aligned
    from trainer.data.styles import synthesize
    from trainer.plots import grid

    sets = []
    for s in cfg.sources:
        if s.kind != "synthetic":
            continue
        try:
            sets.append(load_aligned(s.manifest, s.split, cfg.frame, False, s.max_items,
                                     cache=cfg.cache_dir, progress=False, subset=s.subset))
        except (ValueError, OSError) as exc:  # data not on this machine: card without grid
            log.warning("no style grid from %s: %s", s.name, exc)
    if not sets:
        return None
    rng = np.random.default_rng(seed)
    rows = []
    for style in SKETCH_STYLES:
        row = []
        for n in range(per_style):
            data = sets[n % len(sets)]
            photo = np.asarray(data.photos[int(rng.integers(len(data)))])
            row.extend([synthesize(photo, style, rng), photo])
        rows.append(row)
    return grid(rows)


def _png(path: Path, rgb: np.ndarray, max_width: int = 800) -> None:
    h, w = rgb.shape[:2]
    if w > max_width:
        rgb = cv2.resize(rgb, (max_width, round(h * max_width / w)), interpolation=cv2.INTER_AREA)
    ok, buf = cv2.imencode(".png", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR),
                           [cv2.IMWRITE_PNG_COMPRESSION, 9])
    if not ok:
        raise OSError(f"cannot encode {path}")
    path.write_bytes(buf.tobytes())


def model_fields(cfg: TrainConfig, name: str, summary: str, step: int) -> dict[str, str]:
    """The metadata that names an exported model and says what it was trained on."""
    styles = sorted({st for s in cfg.sources for st in s.styles if s.kind == "synthetic"}
                    | {"pencil"})
    return {"name": name,
            "summary": summary or (f"Sketch-to-photo generator, {step} steps on "
                                   f"{', '.join(s.name for s in cfg.sources)}"),
            "styles": ",".join(styles), "step": str(step),
            "trained_on": cfg.trained_on,
            **held_out_fields(cfg.sources),
            "exported": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")}


def install(model: str | Path, name: str, config: str | Path, summary: str = "",
            models_dir: Path | None = None) -> Path:
    """Install a generator file (a candidate carrying its query adapter and the tables
    measured on its photos) as NAME in models/. Weights, config text and so the hash are
    copied as they are, so every table keyed by that hash stays valid; the fields that name
    the model and its training come anew from its recipe `config`. Its card is the lab's
    to write from the runs that measured it, so NAME.md is left as it is."""
    from sketchlab.core.checkpoint import load_generator, update_metadata

    loaded = load_generator(model)  # every check a model file must pass
    cfg = load_config(config)
    if loaded.config != cfg.generator:
        raise ValueError(f"{Path(model).name} was not made by {Path(config).name}: its "
                         "network differs from the recipe's")
    out_dir = Path(models_dir) if models_dir else paths.models_dir()
    out_dir.mkdir(parents=True, exist_ok=True)
    dest = out_dir / f"{name}.safetensors"
    step = int(loaded.metadata.get("step", "0"))
    update_metadata(loaded.path, model_fields(cfg, name, summary, step), dest=dest)
    return dest


def export(run: str | Path, name: str, summary: str = "", evals: list[Path] | None = None,
           command: str = "", notes: str = "", models_dir: Path | None = None,
           calibrate: bool = True, workers: int = 2) -> Path:
    """Write NAME.safetensors and its card; with `calibrate`, measure the score
    calibration for sketch queries on train pairs (trainer.calibrate) and store it in the
    file, so the app's false-match rates describe these weights."""
    state, ckpt = load_run_state(run)
    cfg = TrainConfig.from_dict(state["config"])
    gen_cfg = GeneratorConfig.from_dict(state["config"]["generator"])
    generator = Generator(gen_cfg)
    generator.load_state_dict(state["generator"])
    out_dir = Path(models_dir) if models_dir else paths.models_dir()
    out_dir.mkdir(parents=True, exist_ok=True)
    weights = out_dir / f"{name}.safetensors"
    step = int(state["step"])
    sha = save_generator(weights, generator, extra=model_fields(cfg, name, summary, step))

    calibration_report = None
    if calibrate:
        from sketchlab.core.model_catalog import write_calibration
        from trainer.calibrate import calibrate as run_calibration

        kinds, fields, calibration_report = run_calibration(str(weights), workers=workers)
        write_calibration(weights, kinds, fields)

    images = []
    eval_details = [json.loads(Path(e).read_text(encoding="utf-8")) for e in evals or []]
    for e_path in evals or []:
        for sample in sorted(Path(e_path).parent.glob("samples-*.png")):
            dst = out_dir / f"{name}-{sample.stem}.png"
            _png(dst, cv2.cvtColor(cv2.imread(str(sample)), cv2.COLOR_BGR2RGB))
            images.append(dst.name)
    sg = style_grid(cfg)
    if sg is not None:
        _png(out_dir / f"{name}-styles.png", sg)
    run_dir = ckpt.parent.parent if ckpt.parent.name == "checkpoints" else ckpt.parent
    if (run_dir / "losses.png").is_file():
        shutil.copyfile(run_dir / "losses.png", out_dir / f"{name}-losses.png")

    card = _card(name, summary, cfg, state, sha, weights, command or
                 f"python -m trainer train --config {run_dir / 'config.toml'}",
                 eval_details, images, sg is not None, notes)
    if calibration_report is not None:
        from trainer.calibrate import format_calibration

        card += "\n" + format_calibration(calibration_report) + "\n"
    weights.with_suffix(".md").write_text(card, encoding="utf-8")
    return weights


def _card(name: str, summary: str, cfg: TrainConfig, state: dict[str, Any], sha: str,
          weights: Path, command: str, evals: list[dict[str, Any]], images: list[str],
          has_styles: bool, notes: str) -> str:
    step = int(state["step"])
    wall = float(state.get("wall_s", 0.0))
    g = Generator(cfg.generator)
    size_mb = weights.stat().st_size / 1e6
    lines = [f"# {name}", "", summary, "",
             "## Summary", "",
             "| | |", "|---|---|",
             f"| weights | `{weights.name}` ({size_mb:.1f} MB) |",
             f"| SHA-256 (tensors) | `{sha}` |",
             f"| network | `sketchlab.core.network.Generator` {json.dumps(cfg.generator.to_dict())}"
             f", {count_parameters(g) / 1e6:.2f} M parameters |",
             f"| training steps | {step} of {cfg.steps} planned, batch {cfg.batch_size} |",
             f"| hardware | {state.get('hardware', 'unknown')} |",
             f"| training wall time | {wall / 60:.0f} min (sum over resumed sessions) |",
             f"| losses | L1 x{cfg.loss.l1}, {cfg.loss.gan_mode} PatchGAN x{cfg.loss.adversarial}"
             f" + feature matching x{cfg.loss.feature_matching} (ramped in from step "
             f"{cfg.loss.adv_start} over {cfg.loss.adv_ramp}), TV x{cfg.loss.tv}"
             + (f", identity (dlib descriptor distance) x{cfg.loss.identity}, perceptual "
                f"(dlib ResNet activations) x{cfg.loss.perceptual}"
                if cfg.loss.identity or cfg.loss.perceptual else "") + " |",
             f"| optimiser | Adam lr G {cfg.lr_g} / D {cfg.lr_d}, betas ({cfg.beta1}, "
             f"{cfg.beta2}), linear decay over the last {cfg.lr_decay_steps} steps |",
             "", "## Command", "", "```", command, "```", "",
             "## Training data", "",
             "Train splits only; the trainer refuses a test split. Every image is aligned "
             "to the app's canonical frame by `sketchlab.core.preprocess` (pairs: one "
             "transform found on the photo).", "",
             "| source | manifest | split | kind | share of each batch | images used |",
             "|---|---|---|---|---|---|"]
    total_w = sum(s.weight for s in cfg.sources)
    for s in cfg.sources:
        kind = s.kind if s.kind == "paired" else f"synthetic ({', '.join(s.styles)})"
        if s.artist_augment:
            kind += (f"; artist augmentations ({', '.join(s.artist_augment)}), each with "
                     f"p {s.artist_augment_p}")
        used = "all" if not s.max_items else f"{s.max_items} (seeded subset)"
        sub = f" `{s.subset}`" if s.subset else ""
        if s.folds:
            used = ("all but" if used == "all" else f"{used}, less") + (
                f" the people of identity fold {s.held_out_fold} of {s.folds}")
        lines.append(f"| {s.name} | `{s.manifest}`{sub} | {s.split} | {kind} | "
                     f"{100 * s.weight / total_w:.0f}% | {used} |")
    lines += ["", "## Evaluation", ""]
    if evals:
        for e in evals:
            lines += [f"Split `{e['split']}`, model `{Path(e['model']).name}`; "
                      f"{e['summary']['n_queries']} queries.", "", format_table(e), "",
                      "```json", json.dumps(e["summary"]), "```", ""]
        lines += ["Definitions: FSIM/FSIMc per Zhang et al. 2011 (phase congruency, ported "
                  "from the authors' MATLAB), SSIM with an 11x11 sigma-1.5 Gaussian window, "
                  "Pearson R of pixel values; grey = BT.601 luma, colour = RGB (see "
                  "`trainer/metrics.py`); quality pairs are aligned with the photo's "
                  "transform. Rank-k: the true photo among the k nearest dlib descriptors "
                  "in the whole gallery, each query sketch aligned on its own and searched "
                  "as `sketchlab match` does; \"all grey\": every query and gallery image "
                  "converted to luma before embedding (LFW distractors are grey, the test "
                  "photos colour).", ""]
    else:
        lines += ["Not evaluated yet.", ""]
    if images:
        lines += ["## Samples (test sketches, inversions, true photos)", ""]
        lines += [f"![{i}]({i})" for i in images] + [""]
    if has_styles:
        lines += ["## Synthetic sketch styles (line, pencil, colour: sketch then photo)", "",
                  f"![styles]({name}-styles.png)", ""]
    if notes:
        lines += [Path(notes).read_text(encoding="utf-8").strip(), ""]
    return "\n".join(lines)


def main(args: argparse.Namespace) -> int:
    if Path(args.run).suffix == ".safetensors":
        if not args.config:
            raise SystemExit("installing a generator file needs --config, the recipe that "
                             "trained it (for the fields that say what it was trained on)")
        path = install(args.run, args.name, args.config, args.summary,
                       Path(args.models_dir) if args.models_dir else None)
        print(f"installed {path} (SHA-256 {read_metadata(path)['sha256'][:12]}, as "
              f"{Path(args.run).name}); its card {path.with_suffix('.md').name} was left as "
              "it is")
        return 0
    path = export(args.run, args.name, args.summary, [Path(e) for e in args.eval],
                  args.train_command, args.notes,
                  Path(args.models_dir) if args.models_dir else None,
                  calibrate=not args.no_calibrate)
    print(f"exported {path} and {path.with_suffix('.md')}")
    return 0
