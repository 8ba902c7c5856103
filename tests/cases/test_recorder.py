"""The app's recording rules, driven with the shapes of the UI's result objects."""

import io
import json
import shutil
import subprocess
import unicodedata
import zipfile
from dataclasses import dataclass, field

import cv2
import numpy as np
import pytest
from PIL import Image

from sketchlab.cases import GalleryIdentity
from sketchlab.cases.artefacts import rgb_sha256
from sketchlab.cases.recorder import CaseRecorder, model_sha256
from tests.cases.conftest import candidates


@dataclass(frozen=True)
class Result:  # the fields of sketchlab.ui.workers.InversionResult that are recorded
    canvas: np.ndarray
    sketch: np.ndarray
    photo: np.ndarray | None
    ms: float
    model: str
    device_label: str = "CPU (2 threads)"
    final: bool = True
    colour: bool = False
    variant: dict | None = None


@dataclass(frozen=True)
class Outcome:  # the fields of sketchlab.core.pipeline.MatchResult the recorder reads
    query: Result
    candidates: list = field(default_factory=candidates)
    k: int = 6
    threshold: float = 0.6
    gallery_size: int = 250
    gallery_url: str = "sqlite:///gallery.sqlite"


def _result(inverter, canvas, **kw):
    from sketchlab.core.preprocess import prepare_sketch

    x = prepare_sketch(canvas, inverter.resolution, source="canvas").image
    return Result(canvas, x, inverter.invert(x), inverter.last_ms, str(inverter.model.path),
                  **kw)


def _save(tmp_path, rgb, name="s.png", strokes=True):
    png = tmp_path / name
    Image.fromarray(rgb).save(png, compress_level=1)  # not the store's own encoding
    if strokes:
        png.with_name(png.stem + ".strokes.json").write_text('{"strokes": []}')
    return png


def cartoon() -> np.ndarray:
    """A smiley: round head, dot eyes, arc mouth, nothing like the face sketch."""
    img = np.full((250, 200, 3), 255, np.uint8)
    cv2.circle(img, (100, 125), 90, (0, 0, 0), 5)
    cv2.circle(img, (65, 95), 10, (0, 0, 0), -1)
    cv2.circle(img, (135, 95), 10, (0, 0, 0), -1)
    cv2.ellipse(img, (100, 150), (50, 30), 0, 0, 180, (0, 0, 0), 5)
    return img


def test_nothing_is_recorded_without_an_open_case(store, tmp_path, face_sketch):
    rec = CaseRecorder(store)
    assert rec.on_sketch_saved(_save(tmp_path, face_sketch)) is None
    assert store.list_cases() == []


def test_save_records_version_and_the_inversion_of_that_picture(store, inverter, tmp_path,
                                                                  face_sketch, tiny_model):
    n = store.create_case().number
    rec = CaseRecorder(store, n)
    live = _result(inverter, face_sketch)
    rec.on_inversion(Result(live.canvas, live.sketch, live.photo, 1.0, live.model,
                            final=False))
    rec.on_inversion(live)
    assert rec.on_sketch_saved(_save(tmp_path, face_sketch)) == 1
    assert rec.on_sketch_saved(_save(tmp_path, face_sketch)) == 1  # unchanged: no new version
    case = store.get(n)
    assert len(case.sketches) == 1 and case.sketches[0].strokes_sha256
    assert len(case.inversions) == 1  # the preview (final=False) was not recorded
    inv = case.inversions[0]
    assert inv.sketch_version == 1  # decided by the store: the same pixels as the file
    assert inv.source_sha256 != case.sketches[0].image_sha256  # ...encoded differently
    assert inv.model_sha256 == model_sha256(str(tiny_model)) != ""
    rec.on_match(Outcome(live))
    case = store.get(n)
    assert len(case.inversions) == 1 and case.matches[0].inversions == (1,)
    assert store.verify(n).ok


def test_save_does_not_record_a_photo_of_another_picture(store, inverter, tmp_path,
                                                         face_sketch):
    n = store.create_case().number
    rec = CaseRecorder(store, n)
    rec.on_inversion(_result(inverter, cartoon()))  # on screen: the cartoon's photo
    assert rec.on_sketch_saved(_save(tmp_path, face_sketch)) == 1  # but the face is saved
    assert store.get(n).inversions == ()


def test_search_before_any_save_records_the_canvas_not_a_version(store, inverter,
                                                                 face_sketch):
    n = store.create_case().number
    rec = CaseRecorder(store, n)
    live = _result(inverter, face_sketch)
    assert rec.on_match(Outcome(live)) == 1
    case = store.get(n)
    assert case.sketches == ()  # no invented sketch version
    inv = case.inversions[0]
    assert inv.sketch_version is None
    assert rgb_sha256(np.asarray(Image.open(store.artefacts.path(inv.source_sha256)))) \
        == rgb_sha256(face_sketch)
    assert store.verify(n).ok


def test_one_search_of_several_variants(store, inverter, face_sketch):
    """The N-variant search: every photo searched is an inversion of its own."""
    n = store.create_case().number
    rec = CaseRecorder(store, n)
    queries = [_result(inverter, face_sketch)]
    for i, gamma in enumerate((0.8, 1.25), start=1):
        base = queries[0]
        varied = (255 * (base.sketch / 255.0) ** gamma).astype(np.uint8)
        queries.append(Result(face_sketch, varied, inverter.invert(varied), 1.0, base.model,
                              variant={"index": i, "contrast_gamma": gamma}))
    cands = candidates(3)
    for c, s in zip(cands, (1.0, 2 / 3, 1 / 3), strict=True):
        c["stability"], c["false_match_rate"] = s, 0.01
    run = rec.record_search(queries, cands, GalleryIdentity("g", "f" * 64, 9), 0.6, 3,
                            calibration="sketch-query calibration, threshold at FMR 1%")
    case = store.get(n)
    m = case.matches[run - 1]
    assert m.inversions == (1, 2, 3) and m.calibration.startswith("sketch-query")
    assert [c.stability for c in m.candidates] == pytest.approx([1.0, 2 / 3, 1 / 3])
    assert m.candidates[0].false_match_rate == 0.01
    assert len({i.source_sha256 for i in case.inversions}) == 1  # one image, stored once
    assert len({i.input_sha256 for i in case.inversions}) == 3
    assert case.inversions[2].variant == {"index": 2, "contrast_gamma": 1.25}
    assert rec.record_search(queries[:1], cands, GalleryIdentity("g", "f" * 64, 9), 0.6, 3) \
        == 2 and len(store.get(n).inversions) == 3  # a result is recorded once
    assert store.verify(n).ok


@pytest.mark.skipif(shutil.which("pdftotext") is None, reason="poppler-utils not installed")
def test_misattribution_sequence(store, inverter, tmp_path, face_sketch):
    """Issue 11: save v1, import a different image (unsaved), invert and search: not v1.
    Then clear, draw a cartoon, search and export: the PDF shows the cartoon under its own
    hash, never a saved version's."""
    pytest.importorskip("PySide6.QtGui")
    from sketchlab.cases.bundle import export_bundle
    from sketchlab.report.pdf import render_report

    n = store.create_case(title="Misattribution").number
    rec = CaseRecorder(store, n)
    rec.on_inversion(_result(inverter, face_sketch))
    assert rec.on_sketch_saved(_save(tmp_path, face_sketch)) == 1

    imported = face_sketch.copy()
    imported[40:60, 30:170] = 10  # a different image, never saved
    first = _result(inverter, imported)
    rec.on_inversion(first)
    rec.on_match(Outcome(first))
    case = store.get(n)
    searched = case.inversion(case.matches[0].inversion)
    assert searched.sketch_version is None, "attributed to a sketch it did not consume"
    assert searched.source_sha256 not in {v.image_sha256 for v in case.sketches}

    drawn = cartoon()
    second = _result(inverter, drawn)
    rec.on_inversion(second)
    rec.on_match(Outcome(second))
    case = store.get(n)
    inv = case.inversion(case.matches[-1].inversion)
    assert inv.sketch_version is None
    source = store.artefacts.read(inv.source_sha256)
    assert rgb_sha256(np.asarray(Image.open(store.artefacts.path(inv.source_sha256)))) \
        == rgb_sha256(drawn)

    path = export_bundle(store, n, tmp_path / "b.zip", render_pdf=render_report).path
    pdf = tmp_path / "r.pdf"
    pdf.write_bytes(zipfile.ZipFile(path).read("report.pdf"))
    text = subprocess.run(["pdftotext", str(pdf), "-"], capture_output=True, text=True,
                          check=True).stdout
    flat = "".join(unicodedata.normalize("NFKC", text).split())
    assert inv.source_sha256 in flat  # the cartoon, under its own hash
    assert "neversavedasasketchversion" in flat
    assert case.sketches[0].image_sha256 not in flat  # no "nearest" saved version
    assert "Savedsketchversion" not in flat
    # The report shows every search with the image it consumed: the imported image for the
    # first, the cartoon for the second (Qt embeds them as JPEG, so compare closely, not
    # exactly); nothing on the page is the saved face sketch.
    if shutil.which("pdfimages"):
        subprocess.run(["pdfimages", "-png", str(pdf), str(tmp_path / "img")], check=True)
        shown = [np.asarray(Image.open(p).convert("RGB"), np.float32)
                 for p in sorted(tmp_path.glob("img-*.png"))]
        same_size = [a for a in shown if a.shape == drawn.shape]

        def close(a: np.ndarray, b: np.ndarray) -> bool:
            return float(np.abs(a - b.astype(np.float32)).mean()) < 4.0

        assert any(close(a, np.asarray(Image.open(io.BytesIO(source)))) for a in same_size)
        assert any(close(a, imported) for a in same_size)
        assert not any(close(a, face_sketch) for a in same_size)


def test_the_engine_that_made_each_photo_is_recorded(store, tiny_model, face_sketch):
    """A photo made by ONNX Runtime says so in the case record and its audit line, beside
    one made by PyTorch: the report and a reviewer can tell which engine made which."""
    from sketchlab.core.inference import Inverter

    n = store.create_case().number
    rec = CaseRecorder(store, n)
    for engine in ("onnxruntime", "torch"):
        inv = Inverter(tiny_model, device="cpu", engine=engine, warmup=False)
        made = _result(inv, face_sketch, device_label=inv.device_label)
        rec.on_inversion(made)
        rec.on_match(Outcome(made))  # a search consumes the photo: it is recorded
    case = store.get(n)
    assert [i.device.split(" (")[0] for i in case.inversions] == [
        "CPU, ONNX Runtime", "CPU, PyTorch"]
    audit = json.dumps([e.details for e in store.entries(n)])
    assert "ONNX Runtime" in audit and "PyTorch" in audit
