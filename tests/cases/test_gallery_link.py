"""Round trip against a real (small) gallery: CUFS test photos enrolled with dlib. A case's
search goes through the app's pipeline and records the photos it searched."""

import numpy as np
import pytest

from sketchlab.cases import CaseError
from sketchlab.cases.bundle import export_bundle, verify_bundle
from sketchlab.cases.gallery_link import gallery_identity, search_sketch
from sketchlab.db.search import Matcher


def test_round_trip_with_real_gallery(store, worked_case, cufs_gallery, inverter, tmp_path):
    ident = gallery_identity(cufs_gallery, Matcher(cufs_gallery))
    assert ident.size == 16 and len(ident.fingerprint) == 64
    before = len(store.get(worked_case).inversions)
    number = search_sketch(store, worked_case, cufs_gallery, inverter, k=5, threshold=0.6)
    case = store.get(worked_case)
    run = case.matches[number - 1]
    assert run.gallery == ident and len(run.candidates) == 5
    assert run.inversions == (before + 1,)  # the photo it searched, recorded first
    assert case.inversions[-1].sketch_version == 2  # the latest version was searched
    assert [c.rank for c in run.candidates] == [1, 2, 3, 4, 5]
    assert np.all(np.diff([c.distance for c in run.candidates]) >= 0)
    assert all(c.within_threshold == (c.distance <= 0.6) for c in run.candidates)
    assert all(c.thumbnail_sha256 and store.artefacts.has(c.thumbnail_sha256)
               for c in run.candidates)
    assert {c.photo_sha256 for c in run.candidates} <= {p.sha256 for p in cufs_gallery.photos()}
    assert store.verify(worked_case).ok
    assert verify_bundle(export_bundle(store, worked_case, tmp_path / "b.zip").path).ok


def test_fingerprint_changes_with_the_gallery(cufs_gallery):
    m = Matcher(cufs_gallery)  # one index kept across the change, as the app keeps it
    before = gallery_identity(cufs_gallery, m)
    assert gallery_identity(cufs_gallery, m) == before
    victim = cufs_gallery.photos()[0]
    assert cufs_gallery.remove_photo(victim.sha256)
    after = gallery_identity(cufs_gallery, m)
    assert after.size == before.size - 1 and after.fingerprint != before.fingerprint


def test_a_search_needs_a_sketch(store, cufs_gallery, inverter):
    n = store.create_case().number
    with pytest.raises(CaseError, match="no sketch"):
        search_sketch(store, n, cufs_gallery, inverter)


def test_a_case_search_reads_as_the_app_and_match_do(store, cufs_gallery, shared_data):
    """The default model: 8 variants recorded as inversions, candidates read 1:N (the share
    of searches for someone absent), the reading's words kept with the run."""
    from sketchlab.core.inference import Inverter
    from sketchlab.core.model_catalog import resolve_model

    n = store.create_case().number
    sketch = shared_data / "cufs_cuhk" / "test" / "sketches" / "f1-005-01-sz1.jpg"
    store.add_sketch(n, sketch.read_bytes(), note="scan")
    inverter = Inverter(resolve_model(None), device="cpu", engine="torch", warmup=False)
    number = search_sketch(store, n, cufs_gallery, inverter, k=5)
    case = store.get(n)
    run = case.matches[number - 1]
    assert len(run.inversions) == 8
    assert [case.inversions[i - 1].variant["index"] for i in run.inversions] == list(range(8))
    assert all(case.inversions[i - 1].sketch_version == 1 for i in run.inversions)
    assert "search for someone absent" in run.calibration
    assert all(c.fpir is not None for c in run.candidates)


def test_cli_case_match(tmp_path, tiny_model, face_sketch, cufs_gallery, capsys):
    from PIL import Image

    from sketchlab.cli import main

    cmd = ["case", "--store", str(tmp_path / "store")]
    sketch = tmp_path / "s.png"
    Image.fromarray(face_sketch).save(sketch)
    assert main([*cmd, "new", "--number", "M-1"]) == 0
    model = ["--model", str(tiny_model), "--device", "cpu"]
    assert main([*cmd, "match", "M-1", "--db", cufs_gallery.url, *model]) == 2  # no sketch
    assert "no sketch" in capsys.readouterr().err
    assert main([*cmd, "add-sketch", "M-1", str(sketch)]) == 0
    assert main([*cmd, "match", "M-1", "--db", cufs_gallery.url, "--top", "3", *model]) == 0
    out = capsys.readouterr()
    assert "match run 1 recorded: 3 candidates from 16 faces" in out.out
    assert "searched with inversions 1," in out.out
    assert "investigative leads" in out.err
    assert main([*cmd, "verify", "M-1"]) == 0
