"""The reliability corpus as a test: a few hundred seeded bad images, tampered bundles
and the file modes of what the app writes. Runs in seconds.

Set SKETCHLAB_CORPUS_TABLE=FILE to also write the tables (Markdown) there, as quoted in
the closing note of issue 14; `python -m tests.reliability.corpus` prints the image table.
"""

from __future__ import annotations

import io
import json
import os
import stat
import zipfile
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.reliability import corpus

_TABLES: dict[str, str] = {}


def _save_table(name: str, text: str) -> None:
    _TABLES[name] = text
    out = os.environ.get("SKETCHLAB_CORPUS_TABLE")
    if out:
        Path(out).write_text("\n\n".join(f"### {k}\n\n{v}" for k, v in _TABLES.items()) + "\n")


@pytest.fixture(scope="module")
def image_results() -> list[corpus.Result]:
    results = corpus.run(corpus.build())
    _save_table("images", corpus.table(results))
    return results


def test_images_never_hang_crash_or_traceback(image_results):
    assert len(image_results) >= 300
    bad = [f"{r.outcome}: {r.item.name}: {r.detail}" for r in image_results
           if r.outcome in ("traceback", "crash", "hang")]
    assert bad == []


def test_images_silent_garbage_only_where_the_format_cannot_know(image_results):
    bad = [f"{r.item.cls}: {r.item.name}: {r.detail}" for r in image_results
           if r.outcome == "silent garbage" and r.item.cls not in corpus.NO_INTEGRITY]
    assert bad == []
    by_class = Counter((r.item.cls, r.outcome) for r in image_results)
    for cls in ("valid but unusual", "blank sketches"):
        assert by_class[(cls, "correct")] == sum(n for (c, _), n in by_class.items() if c == cls)


def test_jpeg_damage_is_caught_beyond_what_pillow_sees(image_results):
    """libjpeg's corrupt-data warnings, which Pillow swallows, now refuse the file: every
    flip Pillow notices is refused, and more besides."""
    flips = [r for r in image_results if r.item.cls == "byte flip: jpeg"]
    pillow_refuses = set()
    for r in flips:
        try:
            Image.open(io.BytesIO(r.item.data)).load()
        except Exception:
            pillow_refuses.add(r.item.name)
    refused = {r.item.name for r in flips if r.outcome == "clean error"}
    assert pillow_refuses <= refused
    assert len(refused) > len(pillow_refuses)


# ---- tampered bundles --------------------------------------------------------------

def _members(path: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as zf:
        return {i.filename: zf.read(i) for i in zf.infolist()}


def test_tampered_bundles_always_get_a_verdict(store, worked_case, tmp_path):
    from sketchlab.cases import CaseError
    from sketchlab.cases.bundle import export_bundle, verify_bundle
    from sketchlab.report.pdf import render_report

    src = export_bundle(store, worked_case, tmp_path / "case.zip",
                        render_pdf=render_report).path
    original = _members(src)
    data = src.read_bytes()
    rng = np.random.default_rng(14)
    variants: list[tuple[str, bytes]] = []
    for _ in range(80):
        b = bytearray(data)
        pos = int(rng.integers(0, len(b)))
        b[pos] ^= int(rng.integers(1, 256))
        variants.append(("byte flip", bytes(b)))
    for _ in range(12):
        variants.append(("truncated", data[:int(rng.integers(1, len(data)))]))
    # Members rewritten as a tamperer would, the manifest left as it was.
    for name in original:
        if name == "manifest.json":
            continue
        edited = dict(original)
        edited[name] = original[name][:-1] + bytes([original[name][-1] ^ 1])
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w") as zf:
            for n, d in edited.items():
                zf.writestr(n, d)
        variants.append(("member edited", buf.getvalue()))
    for depth in (40, 1000, 200_000):
        m = json.loads(original["manifest.json"])
        m["case"]["title"] = json.loads("[" * depth + "]" * depth) if depth < 900 else None
        raw = json.dumps(m).encode() if depth < 900 else (
            original["manifest.json"][:-2] + b', "x": ' + b"[" * depth + b"]" * depth + b"}")
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w") as zf:
            for n, d in original.items():
                zf.writestr(n, raw if n == "manifest.json" else d)
        variants.append(("nested JSON", buf.getvalue()))

    outcomes: dict[str, Counter[str]] = {}
    problems = []
    for i, (cls, blob) in enumerate(variants):
        path = tmp_path / f"v{i}.zip"
        path.write_bytes(blob)
        try:
            result = verify_bundle(path)
            if not result.ok:
                outcome = "clean error"
            else:
                outcome = "correct" if _members(path) == original else "silent garbage"
        except CaseError as exc:
            outcome = "clean error" if "\n" not in str(exc) else "traceback"
        except Exception as exc:
            outcome = "traceback"
            problems.append(f"{cls} #{i}: {type(exc).__name__}: {exc}")
        if outcome == "silent garbage":
            problems.append(f"{cls} #{i}: verified OK with changed contents")
        outcomes.setdefault(cls, Counter())[outcome] += 1
    _save_table("bundles", _table(outcomes))
    assert problems == []


# ---- permissions ---------------------------------------------------------------------

def test_everything_written_is_owner_only_without_help_from_the_umask(
        store, worked_case, tmp_path, inverter):
    """The explicit modes, not the umask cli.main sets: written under umask 022."""
    from sketchlab.cases.bundle import export_bundle
    from sketchlab.core import paths
    from sketchlab.core.atomic import write_text
    from sketchlab.core.checkpoint import save_generator
    from sketchlab.core.embedding_cache import EmbeddingCache
    from sketchlab.core.imageio import save_image
    from sketchlab.db.engine import make_engine

    old = os.umask(0o022)
    try:
        out = paths.user_data_dir() / "out" / "deeper"
        written = [out / "photo.png", out / "photo.jpg", out / "notes.txt",
                   paths.user_cache_dir() / "embeddings.sqlite", out / "case.zip",
                   out / "model.safetensors", out / "gallery.sqlite"]
        save_image(written[0], np.zeros((16, 16, 3), np.uint8))
        save_image(written[1], np.zeros((16, 16, 3), np.uint8))
        write_text(written[2], "case C-1")
        EmbeddingCache(written[3]).close()
        export_bundle(store, worked_case, written[4])
        save_generator(written[5], inverter.model.generator)
        make_engine(f"sqlite:///{written[6]}").dispose()
    finally:
        os.umask(old)
    home = Path(os.environ["SKETCHLAB_HOME"])
    outcomes: Counter[str] = Counter()
    loose = []
    for p in [*written, *[d for d in out.parents if home in d.parents]]:
        mode = stat.S_IMODE(p.stat().st_mode)
        ok = mode == (0o700 if p.is_dir() else 0o600)
        outcomes["correct" if ok else "silent garbage"] += 1
        if not ok:
            loose.append(f"{p} {mode:o}")
    _save_table("permissions", _table({"files and folders written": outcomes}))
    assert loose == []


def _table(rows: dict[str, Counter[str]]) -> str:
    head = "| class | tried | " + " | ".join(corpus.OUTCOMES) + " |"
    lines = [head, "|" + "---|" * (len(corpus.OUTCOMES) + 2)]
    for cls, c in rows.items():
        lines.append(f"| {cls} | {sum(c.values())} | "
                     + " | ".join(str(c[o]) for o in corpus.OUTCOMES) + " |")
    return "\n".join(lines)
