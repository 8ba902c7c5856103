"""The seven reproductions of issue 14 ("Hostile input"), each as a test.

Each one failed on main before the fix: a hang, a traceback, silent garbage, a
world-readable file, an orphaned process or a wrong count.
"""

from __future__ import annotations

import io
import json
import os
import signal
import stat
import subprocess
import sys
import time
import zipfile
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from sketchlab.cli import main
from tests.cases.tamper import fix_manifest, rewrite_zip
from tests.reliability.conftest import forge_model, json_dumps_deep, tiny_state
from tests.reliability.corpus import png_chunk, with_chunk_before_iend

REPO = Path(__file__).resolve().parents[2]


def _one_clean_line(err: str) -> None:
    """What a user should see on stderr for an error: no traceback, no internal error,
    and no warnings from libraries."""
    assert "Traceback" not in err and "unexpected" not in err, err
    assert "pkg_resources" not in err and "Warning" not in err, err


def _png(arr: np.ndarray, **kw) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="PNG", **kw)
    return buf.getvalue()


# ---- 1. Ghostscript hang ----------------------------------------------------------

POSTSCRIPT_LOOP = b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 128 160\n{ } loop\n"


def test_1_postscript_named_png_is_refused_without_ghostscript(tmp_path, tiny_model, capsys,
                                                              monkeypatch):
    # Should anything still hand the file to Ghostscript, make it fail loudly, not hang.
    monkeypatch.setenv("PATH", str(tmp_path / "no-programs-here"))
    loop = tmp_path / "loop.png"
    loop.write_bytes(POSTSCRIPT_LOOP)
    t0 = time.monotonic()
    rc = main(["invert", str(loop), "-o", str(tmp_path / "o.png"), "--model", str(tiny_model)])
    err = capsys.readouterr().err
    assert rc == 1 and time.monotonic() - t0 < 30
    assert "PostScript/EPS file, which SketchLab does not open" in err
    _one_clean_line(err)

    rc = main(["gallery", "enroll", str(loop), "--db", str(tmp_path / "g.sqlite"), "--json",
               "--no-cache"])
    out, err = capsys.readouterr()
    summary = json.loads(out)  # stdout is exactly the JSON summary, nothing else
    assert summary["enrolled"] == 0 and summary["skipped"] == {"unreadable": 1}
    assert "PostScript" in summary["skipped_files"][0]["reason"]
    _one_clean_line(err)


# ---- 2. Malformed models -----------------------------------------------------------

def test_2_bad_model_files_are_listed_unusable_and_the_others_still_work(
        tmp_path, tiny_model, face_sketch, capsys):
    from sketchlab.core import paths

    user_models = paths.user_models_dir()
    state, cfg = tiny_state()
    # The config checks come first, so these need no consistent hash to do their damage.
    forge_model(user_models / "null-config.safetensors", state, "null", sha256="0" * 64)
    forge_model(user_models / "abc-width.safetensors", state,
                json.dumps({**cfg, "base_width": "abc"}), sha256="0" * 64)
    assert main(["models"]) == 0
    out, err = capsys.readouterr()
    assert "null-config" in out and "abc-width" in out
    forge_model(user_models / "huge-frame.safetensors", state,
                json.dumps({**cfg, "height": 40000, "width": 40000}))
    forge_model(user_models / "wide.safetensors", state, json.dumps({**cfg, "base_width": 4096}))
    forge_model(user_models / "tiny-frame.safetensors", state,
                json.dumps({**cfg, "height": 4, "width": 4}))
    nan_state = {k: torch.full_like(v, float("nan")) if v.is_floating_point() else v
                 for k, v in state.items()}
    forge_model(user_models / "nan.safetensors", nan_state, json.dumps(cfg))
    forged = dict(state)
    forge_model(user_models / "edited-config.safetensors", forged, json.dumps(cfg))
    # Edit the config after the fact (frame 32 -> 64): the hash must notice.
    raw = (user_models / "edited-config.safetensors").read_bytes()
    (user_models / "edited-config.safetensors").write_bytes(
        raw.replace(b'\\"height\\": 32', b'\\"height\\": 64'))

    assert main(["models"]) == 0
    out, err = capsys.readouterr()
    _one_clean_line(err)
    lines = {line.split()[0]: line for line in out.splitlines()}
    assert "sketchlab-default" in lines and "UNUSABLE" not in lines["sketchlab-default"]
    assert "null-config" in lines and "must be a JSON object" in lines["null-config"]
    assert "must be an integer" in lines["abc-width"]
    assert "out of range" in lines["huge-frame"] and "out of range" in lines["wide"]
    assert "out of range" in lines["tiny-frame"]
    assert "UNUSABLE" in lines["nan"] and "NaN" in lines["nan"]  # the checks loading runs
    assert main(["models", "--json"]) == 0
    listed = {m["name"]: m for m in json.loads(capsys.readouterr().out)}
    assert listed["null-config"]["usable"] is False and listed["sketchlab-default"]["usable"]

    sketch = tmp_path / "s.png"
    Image.fromarray(face_sketch).save(sketch)
    assert main(["invert", str(sketch), "-o", str(tmp_path / "default.png")]) == 0
    capsys.readouterr()
    for name, needle in [("nan", "NaN or infinite"), ("huge-frame", "out of range"),
                         ("wide", "out of range"), ("tiny-frame", "out of range"),
                         ("edited-config", "do not match their recorded SHA-256")]:
        rc = main(["invert", str(sketch), "-o", str(tmp_path / f"{name}.png"), "--model",
                   name])
        err = capsys.readouterr().err
        assert rc == 2 and needle in err, (name, err)
        _one_clean_line(err)
        assert not (tmp_path / f"{name}.png").exists()


# ---- 3. Case bundles ---------------------------------------------------------------

def _patch_stored_member_byte(src: Path, dst: Path, name: str) -> Path:
    """Change one byte of a stored (uncompressed) member in place, CRC left as it was."""
    data = bytearray(src.read_bytes())
    with zipfile.ZipFile(src) as zf:
        info = zf.getinfo(name)
    # local header: 30 bytes + name + extra, then the data
    n, e = struct_unpack_local(data, info.header_offset)
    pos = info.header_offset + 30 + n + e + info.compress_size // 2
    data[pos] ^= 0x01
    dst.write_bytes(bytes(data))
    return dst


def struct_unpack_local(data: bytearray, offset: int) -> tuple[int, int]:
    import struct

    return struct.unpack("<HH", bytes(data[offset + 26:offset + 30]))


def _lie_about_size(src: Path, dst: Path, name: str) -> Path:
    """Make the central directory claim a member is far smaller than it is."""
    import struct

    data = bytearray(src.read_bytes())
    with zipfile.ZipFile(src) as zf:
        info = zf.getinfo(name)
    cd = data.index(b"PK\x01\x02")
    while True:  # find this member's central directory record
        n = struct.unpack("<H", data[cd + 28:cd + 30])[0]
        if data[cd + 46:cd + 46 + n].decode() == name:
            break
        m, k = struct.unpack("<HH", data[cd + 30:cd + 34])
        cd = data.index(b"PK\x01\x02", cd + 46 + n + m + k)
    data[cd + 24:cd + 28] = struct.pack("<I", max(1, info.file_size // 3))
    dst.write_bytes(bytes(data))
    return dst


@pytest.fixture
def report_bundle(store, worked_case, tmp_path) -> Path:
    from sketchlab.cases.bundle import export_bundle
    from sketchlab.report.pdf import render_report

    return export_bundle(store, worked_case, tmp_path / "case.zip", render_pdf=render_report).path


def _verdict(path: Path, capsys) -> tuple[int, str]:
    rc = main(["case", "verify", str(path)])
    out, err = capsys.readouterr()
    _one_clean_line(err)
    return rc, out + err


def test_3_every_tampered_bundle_gets_a_failed_verdict(report_bundle, tmp_path, capsys):
    rc, text = _verdict(report_bundle, capsys)
    assert rc == 0 and "chain intact" in text
    art = next(n for n in zipfile.ZipFile(report_bundle).namelist()
               if n.startswith("artefacts/"))

    def deep_manifest(members):
        return [(n, (b'{"format": "sketchlab-case-bundle", "x": ' +
                     json_dumps_deep(100_000).encode() + b"}") if n == "manifest.json" else d)
                for n, d in members]

    def deep_log(members):
        return fix_manifest([(n, d + json_dumps_deep(100_000).encode() + b"\n"
                               if n == "audit.jsonl" else d) for n, d in members])

    def edit_report(members):
        # An incremental update appended to the PDF: how a PDF editor saves a change.
        return fix_manifest([(n, d + b"\n% edited: candidate 1 removed\n%%EOF\n"
                               if n == "report.pdf" else d) for n, d in members])

    def drop_report(members):
        return fix_manifest([(n, d) for n, d in members if n != "report.pdf"])

    def extra_artefact(members):
        from sketchlab.core.hashing import sha256_bytes

        extra = _png(np.zeros((16, 16, 3), np.uint8))
        return fix_manifest([*members, (f"artefacts/{sha256_bytes(extra)}.png", extra)])

    variants = {
        "changed byte, CRC not updated": (_patch_stored_member_byte(
            report_bundle, tmp_path / "crc.zip", art), "cannot be read"),
        "header says smaller than it is": (_lie_about_size(
            report_bundle, tmp_path / "size.zip", "case.json"), "case.json cannot be read"),
        "deeply nested manifest": (rewrite_zip(report_bundle, tmp_path / "deepm.zip",
                                            deep_manifest), "nests"),
        "deeply nested log": (rewrite_zip(report_bundle, tmp_path / "deepl.zip", deep_log),
                              "nests"),
        "report edited, manifest fixed": (rewrite_zip(report_bundle, tmp_path / "rep.zip",
                                                   edit_report), "report was changed"),
        "report removed, manifest fixed": (rewrite_zip(report_bundle, tmp_path / "norep.zip",
                                                    drop_report), "report.pdf was removed"),
        "artefact added, manifest fixed": (rewrite_zip(report_bundle, tmp_path / "extra.zip",
                                                    extra_artefact), "added after export"),
    }
    for what, (path, needle) in variants.items():
        rc, text = _verdict(path, capsys)
        assert rc in (1, 2) and "chain intact" not in text, (what, text)
        assert needle in text, (what, text)
        s_rc = main(["case", "--store", str(tmp_path / f"s-{path.stem}"), "import", str(path)])
        err = capsys.readouterr().err
        assert s_rc == 2 and "refused" in err, (what, err)
        _one_clean_line(err)


# ---- 4. Private data readable by other users ----------------------------------------

def _loose(root: Path) -> list[str]:
    bad = []
    for p in [root, *root.rglob("*")]:
        mode = stat.S_IMODE(p.lstat().st_mode)
        if p.is_symlink():
            continue
        if mode & 0o077:
            bad.append(f"{p.relative_to(root.parent)} {mode:o}")
    return bad


def test_4_everything_written_is_owner_only(tmp_path, tiny_model, face_sketch, capsys,
                                            monkeypatch, qtbot):
    import logging

    from sketchlab import logging_setup
    from sketchlab.cases import CaseStore
    from sketchlab.core import paths
    from sketchlab.ui.autosave import Autosaver
    from sketchlab.ui.document import SketchDocument
    from sketchlab.ui.settings import AppSettings, SettingsStore

    home = Path(os.environ["SKETCHLAB_HOME"])
    monkeypatch.delenv("SKETCHLAB_NO_LOG_FILE")  # the log is part of what is written
    # The log file as `configure` sets it up in a fresh process.
    root = logging.getLogger()
    before = list(root.handlers)
    monkeypatch.setattr(root, "_sketchlab_configured", False, raising=False)
    old = os.umask(0o022)  # what a desktop session gives
    try:
        # Folders and files an older version left readable: migrated at start-up.
        legacy = paths.user_cache_dir() / "old"
        legacy.mkdir(mode=0o755)
        os.chmod(legacy, 0o755)
        (legacy / "embeddings.sqlite").write_bytes(b"x")
        os.chmod(legacy / "embeddings.sqlite", 0o644)
        os.chmod(paths.user_cache_dir(), 0o755)

        out = tmp_path / "out"
        out.mkdir(mode=0o700)
        sketch = out / "s.png"
        Image.fromarray(face_sketch).save(sketch)
        os.chmod(sketch, 0o600)
        db = home / "data" / "gallery.sqlite"
        assert main(["invert", str(sketch), "-o", str(out / "photo.png"), "--model",
                     str(tiny_model)]) == 0
        assert main(["invert", str(sketch), "-o", str(out / "many"), "--model",
                     str(tiny_model), "--aligned"]) == 0
        main(["gallery", "enroll", str(sketch), "--db", str(db)])
        store_dir = home / "data" / "cases"
        assert main(["case", "--store", str(store_dir), "new", "--number", "C-1"]) == 0
        assert main(["case", "--store", str(store_dir), "add-sketch", "C-1", str(sketch)]) == 0
        assert main(["case", "--store", str(store_dir), "report", "C-1", "--out",
                     str(out / "report.pdf")]) == 0
        assert main(["case", "--store", str(store_dir), "export", "C-1", "--out",
                     str(out / "case.zip")]) == 0
        CaseStore(store_dir).close()
        settings = SettingsStore()
        settings.update(AppSettings().replace(top_k=7))
        settings.set_ui_value("geometry", b"abc")
        settings._qs.sync()
        doc = SketchDocument()
        saver = Autosaver(doc)
        doc.pixels[10:20, 10:20] = 0
        doc.revision += 1
        assert saver.save_now()
        saver.stop()
        doc.write(out / "drawing.png")
        capsys.readouterr()
        logging_setup.configure()
        logging.getLogger("sketchlab.test").info("case C-1 written")
        for h in root.handlers:
            if h not in before and hasattr(h, "doRollover"):
                h.doRollover()  # the next file is created owner-only too
        logging.getLogger("sketchlab.test").info("case C-1 after rollover")
    finally:
        os.umask(old)
        for h in [h for h in root.handlers if h not in before]:
            root.removeHandler(h)
            h.close()
    assert (paths.user_log_dir() / "sketchlab.log.1").is_file()
    assert (paths.user_cache_dir() / "embeddings.sqlite").is_file()
    assert list(home.rglob("sketchlab.ini")) and list(home.rglob("session.json"))
    assert _loose(home) == []
    assert _loose(out) == []


# ---- 5. Images: tracebacks and silent garbage ---------------------------------------

def test_5_strips_text_bombs_blank_sketches_nan_and_damage(tmp_path, tiny_model, capsys):
    from sketchlab.core.imageio import ImageLoadError, load_image

    strip = tmp_path / "strip.png"
    Image.new("L", (4096, 8)).save(strip)
    text_bomb = tmp_path / "text.png"
    text_bomb.write_bytes(with_chunk_before_iend(
        _png(np.full((64, 64), 255, np.uint8)),
        png_chunk(b"zTXt", b"comment\x00\x00" + zlib.compress(b"\x00" * 50_000_000, 9))))
    assert text_bomb.stat().st_size < 60_000
    nan_tiff, inf_tiff = tmp_path / "nan.tif", tmp_path / "inf.tif"
    a = np.full((32, 32), 0.5, np.float32)
    a[3, 3] = np.nan
    Image.fromarray(a, mode="F").save(nan_tiff)
    a[3, 3] = np.inf
    Image.fromarray(a, mode="F").save(inf_tiff)
    for path, needle in [(strip, "strip"), (text_bomb, "metadata"),
                         (nan_tiff, "NaN or infinite"), (inf_tiff, "NaN or infinite")]:
        rc = main(["invert", str(path), "-o", str(tmp_path / "o.png"), "--model",
                   str(tiny_model)])
        err = capsys.readouterr().err
        assert rc == 1 and needle in err, (path.name, err)
        _one_clean_line(err)
        assert len(err.strip().splitlines()) == 1, err
    store = tmp_path / "cases"
    main(["case", "--store", str(store), "new", "--number", "C-1"])
    capsys.readouterr()
    rc = main(["case", "--store", str(store), "add-sketch", "C-1", str(text_bomb)])
    err = capsys.readouterr().err
    assert rc == 2 and "metadata" in err
    _one_clean_line(err)

    # A damaged scan is not accepted as if whole: a PNG pixel byte flipped (Pillow skips
    # the CRC) and a JPEG whose entropy data was hit (libjpeg warns, Pillow stays quiet).
    rng = np.random.default_rng(0)
    face = rng.integers(0, 255, (64, 64, 3), dtype=np.uint8)
    png = bytearray(_png(face, compress_level=0))
    png[png.index(b"IDAT") + 4 + 600] ^= 0x10
    buf = io.BytesIO()
    Image.fromarray(face).save(buf, format="JPEG", quality=90)
    jpeg = bytearray(buf.getvalue())
    sos = jpeg.index(b"\xff\xda")
    jpeg[sos + (len(jpeg) - sos) // 2] = 0xFF
    jpeg[sos + (len(jpeg) - sos) // 2 + 1] = 0x10  # a marker that cannot be there
    for data in (bytes(png), bytes(jpeg)):
        with pytest.raises(ImageLoadError, match="damaged"):
            load_image(data)


def test_5_blank_sketch_is_nothing_to_search(tmp_path, tiny_model, capsys):
    from sketchlab.core.matching import FaceScan
    from sketchlab.db.gallery import open_gallery
    from sketchlab.enrol.inputs import EnrollItem
    from sketchlab.enrol.run import EnrolledPhoto

    db = tmp_path / "g.sqlite"
    rng = np.random.default_rng(1)
    with open_gallery(db) as g:  # a gallery with faces in it
        g.write_batch([EnrolledPhoto(EnrollItem(Path(f"p{i}.jpg"), f"person {i}"), f"{i:064x}",
                                     FaceScan(rng.normal(0, 0.1, 128).astype(np.float32),
                                              (10, 50, 50, 10), 1), 64, 64, b"")
                       for i in range(5)])
    # Any colour of page (black was searched, rank 1 "match: yes"); sizes to 12 MP are
    # in tests/core/test_preprocess.py.
    for name, size, colour in [("black", (1024, 768), "black"),
                               ("black-2mp", (1600, 1200), "black"),
                               ("grey", (640, 480), (128, 128, 128)),
                               ("paper", (1200, 900), (236, 228, 205)),
                               ("white", (400, 500), "white")]:
        page = tmp_path / f"blank_{name}.png"
        Image.new("RGB", size, colour).save(page)
        rc = main(["match", str(page), "--db", str(db), "--model", str(tiny_model)])
        out, err = capsys.readouterr()
        assert rc == 1 and "Nothing to search: the sketch is blank" in err, name
        assert "person" not in out, name
    blank = tmp_path / "blank_white.png"
    rc = main(["match", str(blank), "--db", str(db), "--model", str(tiny_model), "--json"])
    out, err = capsys.readouterr()
    assert rc == 1 and json.loads(out)["candidates"] == [] and "Nothing to search" in err


# ---- 6. Orphaned workers -------------------------------------------------------------

def _children(pid: int) -> set[int]:
    out = set()
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                ppid = int((d / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            if ppid == pid:
                out.add(int(d.name))
    return out


def _alive(pid: int) -> bool:
    try:
        state = (Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs Linux /proc")
@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM])
def test_6_enrolment_workers_die_with_their_parent(tmp_path, sig):
    photos = tmp_path / "photos"
    photos.mkdir()
    # Enough photos for the worker pool (MIN_POOL_JOBS), each big enough (~1 s of face
    # detection) that the pool is still busy when the parent is killed.
    base = np.tile(np.linspace(0, 255, 1024, dtype=np.uint8), (1024, 1))
    for i in range(40):
        img = base.copy()
        img[0, 0] = i  # distinct files: identical ones would be skipped as duplicates
        Image.fromarray(img).save(photos / f"p{i:02d}.png", compress_level=1)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "sketchlab.cli", "gallery", "enroll", str(photos), "--db",
         str(tmp_path / "g.sqlite"), "--workers", "2", "--no-cache", "--batch-size", "1"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 90
    kids: set[int] = set()
    while time.monotonic() < deadline and len(kids) < 3 and proc.poll() is None:
        kids = _children(proc.pid)  # two workers and the resource tracker
        time.sleep(0.2)
    assert len(kids) >= 2, "the pool never started"
    time.sleep(1.0)  # let the workers get into their initializer and work
    kids = _children(proc.pid)
    proc.send_signal(sig)
    proc.wait(timeout=30)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and any(_alive(k) for k in kids):
        time.sleep(0.2)
    left = [k for k in kids if _alive(k)]
    for k in left:
        os.kill(k, signal.SIGKILL)
    assert left == [], f"{len(left)} of {len(kids)} child processes outlived the parent"


def test_7_concurrent_enrolment_counts_only_its_own_rows(tmp_path):
    """Two enrolments of the same photos: the second saw none of them in the gallery
    when it looked, but the first committed them before the second wrote."""
    from sketchlab.core.embedding_cache import EmbeddingCache
    from sketchlab.core.hashing import sha256_file
    from sketchlab.core.matching import FaceScan
    from sketchlab.db.gallery import open_gallery
    from sketchlab.enrol.inputs import iter_items
    from sketchlab.enrol.run import run_enrolment

    photos = tmp_path / "photos"
    photos.mkdir()
    rng = np.random.default_rng(0)
    cache = EmbeddingCache(tmp_path / "cache.sqlite")
    for i in range(6):
        p = photos / f"person{i}.png"
        Image.fromarray(rng.integers(0, 255, (80, 80, 3), dtype=np.uint8)).save(p)
        cache.put_scans([(sha256_file(p), FaceScan(rng.normal(0, 0.1, 128).astype(np.float32),
                                                   (10, 60, 60, 10), 1))])
    with open_gallery(tmp_path / "g.sqlite") as g:
        first = run_enrolment(iter_items([photos]), existing=g.known_sha256,
                              write=g.write_batch, cache=cache, workers=1)
        second = run_enrolment(iter_items([photos]), existing=lambda shas: set(),
                               write=g.write_batch, cache=cache, workers=1)
        assert g.stats().photos == 6
    cache.close()
    assert (first.enrolled, first.duplicates) == (6, 0)
    assert (second.enrolled, second.duplicates) == (0, 6)


def test_7_no_library_noise_and_one_line_per_error(tmp_path, tiny_model):
    photo = tmp_path / "photo.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64, 3), np.uint8)).save(
        photo)
    truncated = tmp_path / "half.jpg"
    buf = io.BytesIO()
    Image.open(photo).save(buf, format="JPEG")
    truncated.write_bytes(buf.getvalue()[:600])
    # The setuptools the project pins (<82) warns on `import pkg_resources`; make sure the
    # child imports that one, not an older copy a virtualenv may carry.
    from importlib.metadata import distribution

    setuptools_dir = str(distribution("setuptools").locate_file(""))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), setuptools_dir]),
           "PYTHONWARNINGS": "default"}
    probe = subprocess.run([sys.executable, "-c", "import pkg_resources"], env=env,
                           capture_output=True, text=True, timeout=60)
    if "pkg_resources is deprecated" not in probe.stderr:
        pytest.skip("this setuptools does not warn on import; nothing to silence")
    # Enrolment runs the face detector, so face_recognition (and pkg_resources) load.
    r = subprocess.run([sys.executable, "-m", "sketchlab.cli", "gallery", "enroll",
                        str(photo), "--db", str(tmp_path / "g.sqlite"), "--no-cache"],
                       env=env, capture_output=True, text=True, timeout=120)
    assert "no face found" in r.stdout + r.stderr
    assert "pkg_resources" not in r.stderr and "Warning" not in r.stderr, r.stderr
    r = subprocess.run([sys.executable, "-m", "sketchlab.cli", "invert", str(truncated),
                        "-o", str(tmp_path / "o.png"), "--model", str(tiny_model)],
                       env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode == 1
    assert r.stderr.strip().count("\n") == 0, r.stderr  # one line
    assert "truncated" in r.stderr.lower()
