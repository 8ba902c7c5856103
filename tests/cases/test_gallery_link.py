"""Round trip against a real (small) gallery: CUFS test photos enrolled with dlib."""

import numpy as np
import pytest

from sketchlab.cases import CaseError
from sketchlab.cases.bundle import export_bundle, verify_bundle
from sketchlab.cases.gallery_link import gallery_identity, match_inversion
from sketchlab.db.search import Matcher


def test_round_trip_with_real_gallery(store, worked_case, cufs_gallery, tmp_path):
    ident = gallery_identity(cufs_gallery, Matcher(cufs_gallery))
    assert ident.size == 16 and len(ident.fingerprint) == 64
    number = match_inversion(store, worked_case, cufs_gallery, k=5, threshold=0.6)
    run = store.get(worked_case).matches[number - 1]
    assert run.gallery == ident and run.inversion == 1 and len(run.candidates) == 5
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


def test_match_needs_an_inversion(store, cufs_gallery):
    n = store.create_case().number
    with pytest.raises(CaseError, match="no inversion"):
        match_inversion(store, n, cufs_gallery)


def test_cli_case_match(tmp_path, tiny_model, face_sketch, cufs_gallery, capsys):
    from PIL import Image

    from sketchlab.cli import main

    cmd = ["case", "--store", str(tmp_path / "store")]
    sketch = tmp_path / "s.png"
    Image.fromarray(face_sketch).save(sketch)
    assert main([*cmd, "new", "--number", "M-1"]) == 0
    assert main([*cmd, "match", "M-1", "--db", cufs_gallery.url]) == 2  # nothing inverted yet
    assert "no inversion" in capsys.readouterr().err
    assert main([*cmd, "add-sketch", "M-1", str(sketch)]) == 0
    assert main([*cmd, "invert", "M-1", "--model", str(tiny_model), "--device", "cpu"]) == 0
    assert main([*cmd, "match", "M-1", "--db", cufs_gallery.url, "--top", "3"]) == 0
    out = capsys.readouterr()
    assert "match run 1 recorded: 3 candidates from 16 faces" in out.out
    assert "investigative leads" in out.err
    assert main([*cmd, "verify", "M-1"]) == 0
