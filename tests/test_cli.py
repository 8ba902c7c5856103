import json

import numpy as np
import pytest
from PIL import Image

from sketchlab.cli import main


def test_invert_writes_png(tmp_path, tiny_model, face_sketch, capsys):
    src = tmp_path / "s.png"
    Image.fromarray(face_sketch).save(src)
    out = tmp_path / "photo.png"
    assert main(["invert", str(src), "-o", str(out), "--model", str(tiny_model)]) == 0
    im = np.asarray(Image.open(out))
    assert im.shape == (64, 48, 3)


def test_invert_many_to_folder_and_bad_input(tmp_path, tiny_model, face_sketch, capsys):
    good = tmp_path / "a.png"
    Image.fromarray(face_sketch).save(good)
    bad = tmp_path / "b.png"
    bad.write_bytes(b"junk")
    out = tmp_path / "out"
    rc = main(["invert", str(good), str(bad), "-o", str(out), "--model", str(tiny_model)])
    assert rc == 1
    assert (out / "a_photo.png").is_file()
    assert "not a recognised image" in capsys.readouterr().err


def test_missing_model_is_a_clear_error(tmp_path, face_sketch, capsys):
    src = tmp_path / "s.png"
    Image.fromarray(face_sketch).save(src)
    rc = main(["invert", str(src), "-o", str(tmp_path / "o.png"), "--model", "no-such-model"])
    assert rc == 2
    assert "no installed model named 'no-such-model'" in capsys.readouterr().err


def test_bench_json_shape(tiny_model, lfw_embeddings, capsys):
    assert main(["bench", "--json", "--model", str(tiny_model), "--quick",
                 "--backends", "exact,ann,pgvector"]) == 0
    data = json.loads(capsys.readouterr().out)
    cpu = data["invert"]["cpu"]
    assert cpu["median_ms"] > 0 and cpu["p90_ms"] >= cpu["median_ms"]
    assert cpu["resolution"] == [64, 48] and "PyTorch" in cpu["engine"]
    assert set(data["model"]) == {"name", "params", "gflops", "sha256"}
    engines = data["engines"]
    assert engines["trials"]["torch fp32"]["ok"] and engines["fastest"]
    for trial in engines["trials"].values():  # each measured, or says why not
        assert ("ms" in trial and trial["ms_batch8"] > 0) or trial["error"]
    assert data["machine"]["cpu_count"] >= 1
    scale = data["search_10m"]["sizes"]["20000"]
    assert data["search_10m"]["descriptors"]["fitted_on_photos"] > 1000  # LFW, not noise
    for backend in ("exact", "ann_faiss_ivf", "pgvector_hnsw"):
        assert scale[backend]["median_ms"] > 0 and 0.5 < scale[backend]["recall_at_10"] <= 1
    assert scale["ann_faiss_ivf"]["build_s"] >= 0 and scale["ann_faiss_ivf"]["nlist"] == 128
    assert scale["pgvector_hnsw"]["index_mb"] > 0 and scale["pgvector_hnsw"]["m"] == 32
    assert data["enroll_unbatched"]["enrolled"] == data["enroll"]["enrolled"]


def test_bench_times_a_search_query_as_the_model_makes_it(calibrated_tiny_model, shared_data,
                                                          capsys):
    """query: real test sketches through the model's own plan (8 variants and the raw
    sketch for a model calibrated so), each stage timed."""
    model, _ = calibrated_tiny_model
    assert main(["bench", "--json", "--model", str(model), "--quick", "--only", "query"]) == 0
    q = json.loads(capsys.readouterr().out)["query"]
    assert q["kind"] == "variants" and q["variants"] == 8 and q["sketches"] == 8
    assert q["p90_ms"] >= q["median_ms"] > 0 and q["model"] == "calibrated"
    assert set(q["stages_ms"]) == {"align", "invert", "embed"}
    assert sum(q["stages_ms"].values()) <= q["p90_ms"] * 1.5


def test_bench_without_the_datasets_says_so(tiny_model, tmp_path, monkeypatch, capsys):
    """A bundle on a machine without the face datasets: the photo-based sections report
    what is missing and the rest of the bench still runs (it used to end in a
    FileNotFoundError from search_10m)."""
    monkeypatch.setenv("SKETCHLAB_SHARED_DATA", str(tmp_path / "no-data"))
    assert main(["bench", "--json", "--model", str(tiny_model), "--quick",
                 "--only", "invert,query,enroll,search_10m"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["invert"]["cpu"]["median_ms"] > 0
    assert "SKETCHLAB_SHARED_DATA" in data["query"]["error"]
    assert "SKETCHLAB_SHARED_DATA" in data["enroll"]["error"]
    assert "SKETCHLAB_SHARED_DATA" in data["search_10m"]["error"]


def test_models_lists_user_models(tiny_model, monkeypatch, capsys):
    monkeypatch.setenv("SKETCHLAB_MODELS", str(tiny_model.parent))
    assert main(["models", "--json"]) == 0
    names = [m["name"] for m in json.loads(capsys.readouterr().out)]
    assert "tiny" in names


def test_invert_refuses_a_decompression_bomb(tmp_path, tiny_model, capsys):
    bomb = tmp_path / "bomb.png"
    Image.new("1", (20000, 20000)).save(bomb, optimize=True)
    rc = main(["invert", str(bomb), "-o", str(tmp_path / "o.png"), "--model", str(tiny_model)])
    assert rc == 1
    assert "too large" in capsys.readouterr().err
    assert not (tmp_path / "o.png").exists()


def test_empty_canvas_inverts_to_a_defined_result(tmp_path, tiny_model, capsys):
    blank = tmp_path / "blank.png"
    Image.new("RGB", (256, 320), "white").save(blank)
    out = tmp_path / "o.png"
    assert main(["invert", str(blank), "-o", str(out), "--model", str(tiny_model),
                 "--source", "canvas"]) == 0
    assert "(empty sketch)" in capsys.readouterr().out and out.is_file()


def test_bench_leaves_the_server_rows_to_who_asks(capsys):
    """The default bench takes minutes: pgvector (a ~20 min index build at 1M faces on
    2 cores) runs only when named with --backends, and --help says so. (Both kinds of
    row are measured by test_bench_json_shape.)"""
    from sketchlab.cli import build_parser

    args = build_parser().parse_args(["bench"])
    assert args.backends.split(",") == ["exact", "ann"]
    with pytest.raises(SystemExit):
        main(["bench", "--help"])
    assert "opt-in" in capsys.readouterr().out


def test_bench_names_its_sections(capsys):
    """`--only` picks from the sections commands/bench.py registers; a typo is one line."""
    from sketchlab.commands.bench import SECTIONS

    assert list(SECTIONS) == ["invert", "engines", "query", "search_1m", "enroll",
                             "search_10m", "case"]
    assert main(["bench", "--only", "invert,serach_1m"]) == 2
    err = capsys.readouterr().err
    assert "no section serach_1m" in err and "search_1m" in err
