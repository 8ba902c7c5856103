import json

from PIL import Image

from sketchlab.cli import main


def test_cli_flow(tmp_path, tiny_model, face_sketch, capsys):
    store = ["case", "--store", str(tmp_path / "store")]
    assert main([*store, "new", "--number", "C-1", "--title", "Burglary",
                 "--witness", "tall, beard"]) == 0
    sketch = tmp_path / "s.png"
    Image.fromarray(face_sketch).save(sketch)
    strokes = tmp_path / "s.json"
    strokes.write_text('{"strokes": [[0, 0, 1.0]]}')
    assert main([*store, "add-sketch", "C-1", str(sketch), "--strokes", str(strokes),
                 "--note", "v1"]) == 0
    assert main([*store, "invert", "C-1", "--model", str(tiny_model), "--device", "cpu",
                 "--save", str(tmp_path / "photo.png")]) == 0
    assert (tmp_path / "photo.png").is_file()
    assert main([*store, "update", "C-1", "--status", "closed"]) == 0
    assert main([*store, "verify", "C-1"]) == 0
    out = tmp_path / "C-1.zip"
    assert main([*store, "export", "C-1", "--out", str(out), "--no-report"]) == 0
    assert main([*store, "verify", str(out)]) == 0
    capsys.readouterr()
    assert main([*store, "show", "C-1", "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert [e["action"] for e in shown["audit"]] == [
        "case.create", "sketch.add", "inversion.add", "case.update", "case.export"]
    other = ["case", "--store", str(tmp_path / "other")]
    assert main([*other, "import", str(out)]) == 0
    assert "imported case C-1" in capsys.readouterr().out
    assert main([*other, "list"]) == 0
    assert "Burglary" in capsys.readouterr().out


def test_cli_errors_are_one_line(tmp_path, capsys):
    store = ["case", "--store", str(tmp_path / "store")]
    assert main([*store, "show", "nope"]) == 2
    err = capsys.readouterr().err
    assert "no case 'nope'" in err and "Traceback" not in err
    bad = tmp_path / "bad.zip"
    bad.write_bytes(b"junk")
    assert main([*store, "import", str(bad)]) == 2
    assert "not a readable ZIP" in capsys.readouterr().err


def test_cli_verify_reports_tampering(tmp_path, face_sketch, capsys):
    import sqlite3

    store = ["case", "--store", str(tmp_path / "store")]
    main([*store, "new", "--number", "T-1"])
    sketch = tmp_path / "s.png"
    Image.fromarray(face_sketch).save(sketch)
    main([*store, "add-sketch", "T-1", str(sketch)])
    con = sqlite3.connect(tmp_path / "store" / "cases.sqlite")
    # The note lives only in the log now; changing it means getting past the triggers.
    con.execute("DROP TRIGGER audit_no_update")
    con.execute("UPDATE audit_entries SET details_json=replace(details_json, '\"note\": \"\"',"
                " '\"note\": \"changed\"') WHERE seq=2")
    assert con.total_changes == 1
    con.commit()
    con.close()
    assert main([*store, "verify", "T-1"]) == 1
    assert "FAILED" in capsys.readouterr().err


def test_bench_section_times_a_case():
    import argparse

    from sketchlab.commands.case import bench_section

    out = bench_section(argparse.Namespace(quick=True, runs=5))["case"]
    for key in ("verify", "export_no_pdf", "verify_bundle", "export_with_pdf"):
        assert out[key]["median_ms"] > 0
    assert out["bundle_kib"] > 0
