"""A training pack: one file holding everything a run of a config needs besides the code,
so that a machine with torch but without the datasets, dlib or face_recognition can train.

Built where the datasets and dlib are (`python -m trainer pack`), read by
`python -m trainer train --pack`. A zip with no pickle anywhere:

- `pack.json`: the format, the canonical frame, the codec, each source's full
  `SourceConfig` with its rows (manifest-relative paths, identity, alignment method) and
  the codec's mean pixel error, dlib's face network's hashes, and the SHA-256 of every
  other member;
- `content.sha256`: the SHA-256 of `pack.json`, so one hash covers the whole content;
- per source, the aligned frames (align_cache's arrays) as WebP images, one uint8 `.npy`
  of concatenated encodings and one int64 `.npy` of offsets (saved with
  allow_pickle=False); real sketches (three equal channels) are stored grey; synthetic
  sources keep photos only, their sketches are drawn during training (data.styles);
- `face_net.safetensors`: dlib's face network as `sketchlab.core.face_net` builds it,
  when the config's losses use it (pack.json: its weights' SHA-256 as
  `core.checkpoint.weights_sha256` defines it, and the `.dat`'s SHA-256).
"""

from __future__ import annotations

import argparse
import dataclasses
import io
import json
import logging
import time
import zipfile
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch
from tqdm import tqdm

from sketchlab.core.atomic import atomic_write
from sketchlab.core.checkpoint import weights_sha256
from sketchlab.core.hashing import sha256_bytes
from sketchlab.core.imageio import is_grey
from sketchlab.core.manifest import Row, resolve_manifest
from trainer.config import TrainConfig, load_config
from trainer.data.align_cache import AlignedSet
from trainer.data.datasets import Source, load_sources

log = logging.getLogger(__name__)

FORMAT = "sketchlab-train-pack-1"
CODEC = "webp"
# The highest quality whose pack of trainer/configs/default.toml stays under 60 MB
# (measured: docs/decisions.md, "Training packs store frames as WebP at quality 80").
DEFAULT_QUALITY = 80
INDEX = "pack.json"
CONTENT_HASH = "content.sha256"
FACE_NET = "face_net.safetensors"
_DATE = (1980, 1, 1, 0, 0, 0)  # fixed member times: the same input gives the same bytes


class PackError(ValueError):
    """A file that is not an intact training pack, or one made for another config."""


# --- frames <-> image bytes ----------------------------------------------------------------
def encode_frames(frames: np.ndarray, grey: bool, quality: int, desc: str = "",
                  progress: bool = True) -> tuple[np.ndarray, np.ndarray, float]:
    """(N, H, W, 3) RGB uint8 -> (concatenated WebP bytes, N+1 offsets, mean absolute
    pixel error of the decoded frames against the originals)."""
    chunks, offsets, err = [], [0], 0.0
    for frame in tqdm(frames, desc=desc, disable=not progress):
        img = np.asarray(frame)
        src = img[..., 0] if grey else cv2.cvtColor(img, cv2.COLOR_RGB2BGR)
        ok, buf = cv2.imencode(".webp", src, [cv2.IMWRITE_WEBP_QUALITY, quality])
        if not ok:
            raise RuntimeError(f"{desc}: WebP encoding failed")
        chunks.append(buf.reshape(-1))
        offsets.append(offsets[-1] + buf.size)
        back = _decode(buf.reshape(-1), grey, img.shape[:2])
        err += float(np.abs(back.astype(np.int16) - img.astype(np.int16)).mean())
    blob = np.concatenate(chunks) if chunks else np.zeros(0, np.uint8)
    return blob, np.asarray(offsets, np.int64), err / max(1, len(frames))


def _decode(buf: np.ndarray, grey: bool, frame: tuple[int, int]) -> np.ndarray:
    img = cv2.imdecode(buf, cv2.IMREAD_GRAYSCALE if grey else cv2.IMREAD_COLOR)
    if img is None or img.shape[:2] != tuple(frame):
        raise PackError("an image in the pack cannot be decoded to the canonical frame")
    if grey:
        return np.repeat(img[..., None], 3, axis=2)
    return cv2.cvtColor(img, cv2.COLOR_BGR2RGB)


def decode_frames(blob: np.ndarray, offsets: np.ndarray, grey: bool,
                  frame: tuple[int, int]) -> np.ndarray:
    out = np.empty((len(offsets) - 1, *frame, 3), np.uint8)
    for i in range(len(out)):
        out[i] = _decode(blob[offsets[i]:offsets[i + 1]], grey, frame)
    return out


def _json(index: dict[str, Any]) -> bytes:
    return json.dumps(index, sort_keys=True, separators=(",", ":")).encode()


def _npy(arr: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, arr, allow_pickle=False)
    return buf.getvalue()


# --- building ------------------------------------------------------------------------------
def _rows(rows: Sequence[Row], methods: Sequence[str], manifest_dir: Path | None
          ) -> list[list[str]]:
    def rel(p: Path | None) -> str:
        if p is None:
            return ""
        if manifest_dir is not None and p.is_relative_to(manifest_dir):
            return p.relative_to(manifest_dir).as_posix()
        return p.as_posix()

    return [[rel(r.sketch), rel(r.photo), r.identity, m]
            for r, m in zip(rows, methods, strict=True)]


def build_pack(cfg: TrainConfig, out: str | Path, quality: int = DEFAULT_QUALITY,
               sources: Sequence[Source] | None = None, progress: bool = True
               ) -> tuple[dict[str, Any], str]:
    """Write the pack of `cfg` to `out` (atomically); return its index (pack.json) and
    content SHA-256.

    `sources` defaults to the config's aligned sources (data.datasets.load_sources, which
    reads the aligned-frame cache and aligns what is missing)."""
    if not 1 <= quality <= 100:
        raise ValueError(f"WebP quality must be 1-100, not {quality}")
    if sources is None:
        sources = load_sources(cfg, progress=progress)
    if [s.config for s in sources] != list(cfg.sources):
        raise ValueError("the sources given do not match the config's [[sources]]")
    members: dict[str, tuple[bytes, int]] = {}  # name -> (bytes, zip compression)
    index_sources = []
    for src in sources:
        s, data = src.config, src.data
        try:
            manifest_dir: Path | None = resolve_manifest(s.manifest).parent
        except ValueError:  # sources built in memory (tests) have no manifest file
            manifest_dir = None
        entry: dict[str, Any] = {"config": dataclasses.asdict(s), "count": len(data),
                                 "rows": _rows(data.rows, data.methods, manifest_dir)}
        sets = {"photos": data.photos}
        if s.kind == "paired":
            sets["sketches"] = data.sketches
        for kind, frames in sets.items():
            if frames.shape[1:] != (*cfg.frame, 3):
                raise ValueError(f"source {s.name}: {kind} are {frames.shape[1:3]}, the "
                                 f"config's frame is {cfg.frame}")
            grey = kind == "sketches" and is_grey(frames)
            blob, offsets, mae = encode_frames(frames, grey, quality, f"{s.name} {kind}",
                                               progress)
            base = f"sources/{s.name}/{kind}"
            members[f"{base}.webp.npy"] = (_npy(blob), zipfile.ZIP_STORED)
            members[f"{base}.offsets.npy"] = (_npy(offsets), zipfile.ZIP_DEFLATED)
            entry[kind] = {"grey": grey, "bytes": int(blob.size),
                           "mean_abs_error": round(mae, 4)}
        index_sources.append(entry)
    face = None
    if cfg.uses_face_net:
        from safetensors.torch import save as safetensors_bytes

        from sketchlab.core.face_net import CACHE_FORMAT, face_net_state

        state, dat_sha, dat_name = face_net_state()
        # Tensors only: safetensors writes metadata in no fixed order, and the same
        # input should give the same pack. What the weights are is in pack.json.
        members[FACE_NET] = (safetensors_bytes(state), zipfile.ZIP_DEFLATED)
        face = {"member": FACE_NET, "format": CACHE_FORMAT,
                "weights_sha256": weights_sha256(state, CACHE_FORMAT), "source": dat_name,
                "source_sha256": dat_sha}
    index = {"format": FORMAT, "frame": list(cfg.frame),
             "codec": {"name": CODEC, "quality": quality}, "sources": index_sources,
             "face_net": face,
             "members": {name: sha256_bytes(raw) for name, (raw, _) in members.items()}}
    index_bytes = _json(index)
    content = sha256_bytes(index_bytes)
    with atomic_write(out) as fh, zipfile.ZipFile(fh, "w") as zf:
        def put(name: str, raw: bytes, how: int) -> None:
            zf.writestr(zipfile.ZipInfo(name, _DATE), raw, compress_type=how)

        put(CONTENT_HASH, (content + "\n").encode(), zipfile.ZIP_STORED)
        put(INDEX, index_bytes, zipfile.ZIP_DEFLATED)
        for name, (raw, how) in members.items():
            put(name, raw, how)
    return index, content


# --- reading -------------------------------------------------------------------------------
@dataclass(frozen=True)
class Pack:
    path: Path
    content_sha256: str
    index: dict[str, Any]
    sources: list[Source]
    face_net_state: dict[str, torch.Tensor] | None

    def face_net(self) -> torch.nn.Module | None:
        if self.face_net_state is None:
            return None
        from sketchlab.core.face_net import face_net_from_state

        return face_net_from_state(self.face_net_state)

    def record(self, run_dir: Path) -> None:
        """Which pack a run trained from, next to its config.toml."""
        run_dir.mkdir(parents=True, exist_ok=True)
        summary = {"file": self.path.name, "content_sha256": self.content_sha256,
                   "codec": self.index["codec"],
                   "sources": {s.config.name: len(s.data) for s in self.sources}}
        (run_dir / "pack.json").write_text(json.dumps(summary, indent=1) + "\n")


def _damaged(path: Path, what: str) -> PackError:
    return PackError(f"{path} is damaged ({what}); copy it again or rebuild it with "
                     "`python -m trainer pack`")


# Source options applied to each draw while training, not to the stored frames: a pack
# serves a config that adds or changes them.
DRAWN_AT_TRAINING = frozenset({"artist_augment", "artist_augment_p"})


def check_matches(index: dict[str, Any], cfg: TrainConfig, path: Path) -> None:
    """Refuse a pack made for other sources (names, kinds, weights, styles, manifests,
    caps: every SourceConfig field but those drawn at training, in order) or another
    canonical frame."""
    problems = []
    if tuple(index["frame"]) != cfg.frame:
        problems.append(f"frame {tuple(index['frame'])} vs the config's {cfg.frame}")
    packed = [s["config"] for s in index["sources"]]
    wanted = [dataclasses.asdict(s) for s in cfg.sources]
    if [p["name"] for p in packed] != [w["name"] for w in wanted]:
        problems.append(f"sources {[p['name'] for p in packed]} vs the config's "
                        f"{[w['name'] for w in wanted]}")
    else:
        for p, w in zip(packed, wanted, strict=True):
            for k in w:
                if k in DRAWN_AT_TRAINING:
                    continue
                pv = p.get(k)
                pv = tuple(pv) if isinstance(pv, list) else pv
                if pv != w[k]:
                    problems.append(f"source {w['name']}: {k} {pv!r} vs the config's {w[k]!r}")
    if cfg.uses_face_net and index.get("face_net") is None:
        problems.append("the config's losses use dlib's face network, which the pack lacks")
    if problems:
        raise PackError(f"{path} was not made for this config: " + "; ".join(problems) +
                        ". Build a pack from this config with `python -m trainer pack`.")


def read_pack(path: str | Path, cfg: TrainConfig) -> Pack:
    """The sources (and face network) of a pack, after checking every member's SHA-256
    and that the pack was made for `cfg`."""
    path = Path(path)
    try:
        zf = zipfile.ZipFile(path)
    except FileNotFoundError:
        raise
    except (zipfile.BadZipFile, OSError) as exc:
        raise _damaged(path, f"not a readable zip: {exc}") from exc
    with zf:
        def member(name: str) -> bytes:
            try:
                return zf.read(name)
            except KeyError as exc:
                raise _damaged(path, f"{name} is missing") from exc
            except (zipfile.BadZipFile, zlib.error, OSError, EOFError, ValueError) as exc:
                raise _damaged(path, f"{name}: {exc}") from exc

        index_bytes = member(INDEX)
        content = member(CONTENT_HASH).decode(errors="replace").strip()
        if sha256_bytes(index_bytes) != content:
            raise _damaged(path, f"{INDEX} does not match {CONTENT_HASH}")
        try:
            index = json.loads(index_bytes)
        except ValueError as exc:
            raise _damaged(path, f"{INDEX}: {exc}") from exc
        if index.get("format") != FORMAT:
            raise PackError(f"{path}: not a SketchLab training pack (format "
                            f"{index.get('format')!r}, expected {FORMAT!r})")
        check_matches(index, cfg, path)

        def checked(name: str) -> bytes:
            raw = member(name)
            if sha256_bytes(raw) != index["members"].get(name):
                raise _damaged(path, f"{name} does not match its SHA-256")
            return raw

        def array(name: str) -> np.ndarray:
            return np.load(io.BytesIO(checked(name)), allow_pickle=False)

        frame = tuple(index["frame"])
        sources = []
        for s, entry in zip(cfg.sources, index["sources"], strict=True):
            sets = {}
            for kind in ("photos", "sketches"):
                if kind in entry:
                    base = f"sources/{s.name}/{kind}"
                    sets[kind] = decode_frames(array(f"{base}.webp.npy"),
                                               array(f"{base}.offsets.npy"),
                                               entry[kind]["grey"], frame)
            rows = tuple(Row(Path(sk) if sk else None, Path(ph), ident, s.split)
                         for sk, ph, ident, _ in entry["rows"])
            methods = tuple(m for *_, m in entry["rows"])
            data = AlignedSet(rows, sets["photos"], sets.get("sketches"), methods)
            if not all(len(a) == len(rows) == entry["count"] for a in sets.values()):
                raise _damaged(path, f"source {s.name}: {entry['count']} frames listed, "
                                     f"{[len(a) for a in sets.values()]} stored")
            sources.append(Source(s, data))
            log.info("pack source %s: %d images (%s, weight %.2f)", s.name, len(data),
                     s.kind, s.weight)
        state = None
        if cfg.uses_face_net:
            from safetensors.torch import load as load_safetensors

            face = index["face_net"]
            state = load_safetensors(checked(face["member"]))
            if weights_sha256(state, face["format"]) != face["weights_sha256"]:
                raise _damaged(path, "the face network's weights do not match their SHA-256")
    return Pack(path, content, index, sources, state)


# --- `python -m trainer pack` --------------------------------------------------------------
def main(args: argparse.Namespace) -> int:
    cfg = load_config(args.config)
    t0 = time.perf_counter()
    index, content = build_pack(cfg, args.out, quality=args.quality or DEFAULT_QUALITY)
    dt = time.perf_counter() - t0
    size = Path(args.out).stat().st_size
    for s in index["sources"]:
        sets = ", ".join(f"{k} {s[k]['bytes'] / 1e6:.1f} MB (mean abs error "
                         f"{s[k]['mean_abs_error']:.2f})" for k in ("photos", "sketches")
                         if k in s)
        print(f"{s['config']['name']}: {s['count']} frames; {sets}")
    if index["face_net"]:
        print(f"face net: weights sha256 {index['face_net']['weights_sha256'][:16]}..., from "
              f"{index['face_net']['source']} (sha256 "
              f"{index['face_net']['source_sha256'][:16]}...)")
    print(f"wrote {args.out}: {size / 1e6:.1f} MB ({size / 2**20:.1f} MiB), {CODEC} quality "
          f"{index['codec']['quality']}, content sha256 {content}, in {dt:.0f} s")
    return 0
