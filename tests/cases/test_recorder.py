"""The app's recording rules, driven with the shapes of the UI's result objects."""

from dataclasses import dataclass, field

import numpy as np
from PIL import Image

from sketchlab.cases.recorder import AUTO_NOTE, CaseRecorder, model_sha256
from tests.cases.conftest import candidates


@dataclass(frozen=True)
class Result:  # the fields of sketchlab.ui.workers.InversionResult that are recorded
    sketch: np.ndarray
    photo: np.ndarray | None
    ms: float
    model: str
    device_label: str = "CPU (2 threads)"
    final: bool = True
    colour: bool = False


@dataclass(frozen=True)
class Outcome:  # sketchlab.ui.widgets.match_panel.MatchOutcome
    query: Result
    candidates: list = field(default_factory=candidates)
    k: int = 6
    threshold: float = 0.6
    gallery_size: int = 250
    gallery_url: str = "sqlite:///gallery.sqlite"


def _result(inverter, sketch):
    from sketchlab.core.preprocess import prepare_sketch

    x = prepare_sketch(sketch, inverter.resolution).image
    return Result(x, inverter.invert(x), inverter.last_ms, str(inverter.model.path))


def _save(tmp_path, rgb, name="s.png", strokes=True):
    png = tmp_path / name
    Image.fromarray(rgb).save(png)
    if strokes:
        png.with_name(png.stem + ".strokes.json").write_text('{"strokes": []}')
    return png


def test_nothing_is_recorded_without_an_open_case(store, tmp_path, face_sketch):
    rec = CaseRecorder(store)
    assert rec.on_sketch_saved(_save(tmp_path, face_sketch)) is None
    assert store.list_cases() == []


def test_save_records_version_and_latest_final_inversion(store, inverter, tmp_path,
                                                          face_sketch, tiny_model):
    n = store.create_case().number
    rec = CaseRecorder(store, n)
    live = _result(inverter, face_sketch)
    rec.on_inversion(Result(live.sketch, live.photo, 1.0, live.model, final=False))
    rec.on_inversion(live)
    assert rec.on_sketch_saved(_save(tmp_path, face_sketch)) == 1
    assert rec.on_sketch_saved(_save(tmp_path, face_sketch)) == 1  # unchanged: no new version
    case = store.get(n)
    assert len(case.sketches) == 1 and case.sketches[0].strokes_sha256
    assert len(case.inversions) == 1  # the preview (final=False) was not recorded
    assert case.inversions[0].model_sha256 == model_sha256(str(tiny_model)) != ""
    rec.on_match(Outcome(live))
    case = store.get(n)
    assert len(case.inversions) == 1 and case.matches[0].inversion == 1
    assert store.verify(n).ok


def test_search_before_any_save_records_the_network_input(store, inverter, face_sketch):
    n = store.create_case().number
    rec = CaseRecorder(store, n)
    live = _result(inverter, face_sketch)
    rec.on_inversion(live)
    assert rec.on_match(Outcome(live)) == 1
    case = store.get(n)
    assert case.sketches[0].note == AUTO_NOTE
    assert case.inversions[0].input_sha256 == case.sketches[0].image_sha256
    assert case.matches[0].gallery.size == 250
    assert store.verify(n).ok
