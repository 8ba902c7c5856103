import json
import shutil

from sketchlab.cli import main


def test_gallery_cli_roundtrip(cufs_photos, tmp_path, capsys):
    folder = tmp_path / "in"
    folder.mkdir()
    for p in cufs_photos[:3]:
        shutil.copy(p, folder / p.name)
    (folder / "junk.jpg").write_bytes(b"nope")
    db = str(tmp_path / "g.sqlite")
    assert main(["gallery", "enroll", str(folder), "--db", db, "--workers", "1"]) == 0
    out = capsys.readouterr().out
    assert "enrolled 3 of 4 photos" in out and "1 unreadable" in out and "junk.jpg" in out
    assert main(["gallery", "enroll", str(folder), "--db", db, "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["duplicates"] == 3 and summary["enrolled"] == 0
    assert main(["gallery", "stats", "--db", db, "--json"]) == 0
    st = json.loads(capsys.readouterr().out)
    assert (st["subjects"], st["photos"], st["embeddings"], st["drawn"]) == (3, 3, 3, 3)
    assert main(["gallery", "draw", "--db", db]) == 0  # nothing left to draw
    assert "Drew 0 faces. Every face has its drawing" in capsys.readouterr().out
    assert main(["gallery", "list", "--db", db, "--json"]) == 0
    subjects = json.loads(capsys.readouterr().out)
    assert [s["name"] for s in subjects] == [p.stem for p in cufs_photos[:3]]
    assert main(["gallery", "list", "--db", db, "--subject", subjects[0]["name"]]) == 0
    assert "1 photo(s)" in capsys.readouterr().out
    assert main(["gallery", "remove", "--db", db, "--subject", str(subjects[0]["id"])]) == 0
    assert main(["gallery", "remove", "--db", db, "--subject", "nobody"]) == 2
    assert "no subject with id or name 'nobody'" in capsys.readouterr().err
    assert main(["gallery", "list", "--db", db, "--photos", "--json"]) == 0
    photos = json.loads(capsys.readouterr().out)
    assert len(photos) == 2
    assert main(["gallery", "remove", "--db", db, "--photo", photos[0]["sha256"][:10]]) == 0
    assert main(["gallery", "stats", "--db", db]) == 0
    out = capsys.readouterr().out
    assert "photos    1" in out and "search    two ways" in out


def test_match_cli(cufs_gallery, cufs_photos, shared_data, tiny_model, tmp_path, capsys):
    db = cufs_gallery.url
    name = cufs_photos[0].stem
    sketch = shared_data / "cufs_cuhk" / "test" / "sketches" / f"{name}-sz1.jpg"
    assert main(["match", str(sketch), "--db", db, "--top", "3", "--json",
                 "--model", str(tiny_model), "--save-photo", str(tmp_path / "q.png")]) == 0
    search = json.loads(capsys.readouterr().out)
    assert search["reading"]["reading"] == "1:1"  # the tiny model has no 1:N search rates
    got = search["candidates"]
    assert [c["rank"] for c in got] == [1, 2, 3]
    assert set(got[0]) == {"rank", "subject", "photo_sha256", "distance", "score",
                           "within_threshold", "false_match_rate"}
    assert got[0]["false_match_rate"] is None  # the tiny model has no calibration
    assert got[0]["distance"] <= got[1]["distance"] <= got[2]["distance"]
    assert (tmp_path / "q.png").is_file()
    assert main(["match", str(sketch), "--db", db, "--raw", "--top", "2",
                 "--threshold", "0.7"]) == 0
    out = capsys.readouterr()
    assert "rank  subject" in out.out and "sketch itself (raw)" in out.err
    assert "investigative leads" in out.err


def test_match_empty_gallery_is_a_clear_error(tmp_path, face_sketch, capsys):
    from PIL import Image

    src = tmp_path / "s.png"
    Image.fromarray(face_sketch).save(src)
    assert main(["match", str(src), "--raw", "--db", str(tmp_path / "empty.sqlite")]) == 2
    assert "the gallery is empty" in capsys.readouterr().err


def test_match_cli_with_calibration_and_variants(cufs_gallery, cufs_photos, shared_data,
                                                 calibrated_tiny_model, capsys):
    model, _ = calibrated_tiny_model
    sketch = shared_data / "cufs_cuhk" / "test" / "sketches" / f"{cufs_photos[0].stem}-sz1.jpg"
    assert main(["match", str(sketch), "--db", cufs_gallery.url, "--top", "5", "--json",
                 "--model", str(model)]) == 0
    got = json.loads(capsys.readouterr().out)["candidates"]
    rates = [c["false_match_rate"] for c in got]
    assert all(0 < r <= 1 for r in rates) and rates == sorted(rates)  # nearer = rarer
    for c in got:
        # Marked exactly when no more than 1 in 100 non-mates come as close.
        assert c["within_threshold"] == (c["false_match_rate"] <= 0.01 * 1.001)
        n, of = map(int, c["stability"].split("/"))
        assert of == 8 and 0 <= n <= 8
    assert main(["match", str(sketch), "--db", cufs_gallery.url, "--top", "3",
                 "--model", str(model), "--fmr", "0.1", "--variants", "2"]) == 0
    out = capsys.readouterr()
    assert "2 inverted variants + raw sketch (0.2)" in out.err
    assert "1 in 10 non-mates come this close" in out.err
    assert "non-mates this close" in out.out
    assert main(["match", str(sketch), "--db", cufs_gallery.url, "--model", str(model),
                 "--variants", "99"]) == 2
    assert main(["match", str(sketch), "--db", cufs_gallery.url, "--model", str(model),
                 "--fmr", "2"]) == 2


def test_calibration_for_other_weights_is_ignored(calibrated_tiny_model):
    from sketchlab.core.model_catalog import read_calibration, write_calibration

    model, kinds = calibrated_tiny_model
    assert set(read_calibration(model)[0]) == {"single", "variants", "raw"}
    write_calibration(model, kinds, {"model_sha256": "0" * 64})
    got, info = read_calibration(model)
    assert got == {} and "other weights" in info["error"]
