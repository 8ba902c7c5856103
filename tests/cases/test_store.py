import json
import sqlite3

import pytest

from sketchlab.cases import CaseError, CaseStore, GalleryIdentity
from sketchlab.cases.projection import replay


def db(store: CaseStore) -> sqlite3.Connection:
    con = sqlite3.connect(store.db_path)
    con.isolation_level = None
    return con


def test_round_trip_records_everything(store, worked_case, tiny_model):
    from sketchlab.core.checkpoint import load_generator

    case = store.get(worked_case)
    assert [v.version for v in case.sketches] == [1, 2]
    assert case.sketches[0].strokes_sha256 and case.sketches[1].strokes_sha256 is None
    inv = case.latest_inversion
    assert inv.sketch_version == 2  # the latest version by default
    assert inv.source_sha256 == case.sketches[1].image_sha256  # the file, as consumed
    assert inv.model_sha256 == load_generator(tiny_model).sha256
    assert inv.device.startswith("CPU") and inv.ms > 0
    assert inv.settings["resolution"] == [64, 48]
    assert store.artefacts.has(inv.photo_sha256) and store.artefacts.has(inv.input_sha256)
    m = case.latest_match
    assert m.inversions == (1,) and m.gallery.size == 250 and m.threshold == 0.6
    assert [c.rank for c in m.candidates] == list(range(1, 7))
    assert all(store.artefacts.has(c.thumbnail_sha256) for c in m.candidates)
    assert case.info.status == "closed"
    entries = store.entries(worked_case)
    assert [e.action for e in entries] == ["case.create", "sketch.add", "sketch.add",
                                           "inversion.add", "match.add", "case.update"]
    assert all(e.who for e in entries)
    assert replay(entries) == case  # the log is the only record
    result = store.verify(worked_case)
    assert result.ok, result.problems
    assert result.entries == 6 and result.head == entries[-1].hash


def test_audit_table_refuses_update_and_delete(store, worked_case):
    con = db(store)
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        con.execute("UPDATE audit_entries SET who='mallory' WHERE seq=2")
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        con.execute("DELETE FROM audit_entries WHERE seq=2")


def _untriggered(store):
    con = db(store)
    con.execute("DROP TRIGGER audit_no_update")
    con.execute("DROP TRIGGER audit_no_delete")
    return con


def test_changed_image_byte_is_detected(store, worked_case):
    sha = store.get(worked_case).sketches[0].image_sha256
    path = store.artefacts.path(sha)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))
    problems = store.verify(worked_case).problems
    assert any(sha[:12] in p and "modified" in p for p in problems)


def test_edited_log_entry_is_detected(store, worked_case):
    con = _untriggered(store)
    con.execute("UPDATE audit_entries SET who='mallory' WHERE seq=3")
    problems = store.verify(worked_case).problems
    assert any("entry #3" in p and "edited" in p for p in problems)


def test_dropped_log_entry_is_detected(store, worked_case):
    con = _untriggered(store)
    con.execute("DELETE FROM audit_entries WHERE seq=4")
    assert any("removed" in p for p in store.verify(worked_case).problems)


def test_dropped_last_entry_is_detected(store, worked_case):
    con = _untriggered(store)
    con.execute("DELETE FROM audit_entries WHERE seq=6")
    problems = store.verify(worked_case).problems
    assert any("end of the log" in p for p in problems)


def test_reordered_log_entries_are_detected(store, worked_case):
    con = _untriggered(store)
    rows = con.execute("SELECT id, seq, time, who, action, details_json, artefacts_json, "
                       "prev_hash, hash FROM audit_entries WHERE seq IN (2, 3) ORDER BY seq"
                       ).fetchall()
    # Swap the two entries' contents between their rows (ids keep the table order).
    con.execute("UPDATE audit_entries SET hash='x', prev_hash='x2', seq=-1 WHERE id=?",
                (rows[0][0],))
    for (rid, *_), (_, *content) in ((rows[1], rows[0]), (rows[0], rows[1])):
        con.execute("UPDATE audit_entries SET seq=?, time=?, who=?, action=?, details_json=?, "
                    "artefacts_json=?, prev_hash=?, hash=? WHERE id=?", (*content, rid))
    problems = store.verify(worked_case).problems
    assert any("reordered" in p or "moved" in p for p in problems)


def test_edited_case_index_is_detected(store, worked_case):
    con = db(store)
    con.execute("UPDATE cases SET number='1999-0001'")
    problems = store.verify("1999-0001").problems
    assert any("index" in p and worked_case in p for p in problems)
    con.execute(f"UPDATE cases SET number='{worked_case}', audit_head='{'0' * 64}'")
    assert any("end of the log" in p for p in store.verify(worked_case).problems)


def _reseal(store, edit) -> None:
    """Rewrite the whole chain after `edit(entries)`: what a tamperer with write access
    and no honest copy of the head would do. The chain then checks out."""
    from sketchlab.cases.audit import AuditEntry

    entries = store.entries(store.list_cases()[0].uid)
    edit(entries)
    con = _untriggered(store)
    prev = "0" * 64
    for e in entries:
        e = AuditEntry(**{**e.__dict__, "prev_hash": prev}).sealed()
        con.execute("UPDATE audit_entries SET details_json=?, prev_hash=?, hash=? WHERE seq=?",
                    (json.dumps(e.details), e.prev_hash, e.hash, e.seq))
        prev = e.hash
    con.execute("UPDATE cases SET audit_head=?", (prev,))


def test_resealed_misattribution_is_still_detected(store, worked_case):
    """Even a log rewritten with valid hashes cannot tie an inversion to a sketch version
    whose picture is not the image the inversion consumed."""
    def claim_version_1(entries):
        inv = next(e for e in entries if e.action == "inversion.add")
        inv.details["sketch_version"] = 1  # it consumed version 2

    _reseal(store, claim_version_1)
    problems = store.verify(worked_case).problems
    assert list(problems) == ["inversion 1 is recorded as of sketch version 1, but the image it "
                        "consumed is a different picture"]


def test_resealed_hidden_tie_is_still_detected(store, worked_case):
    def claim_unsaved(entries):
        next(e for e in entries if e.action == "inversion.add").details["sketch_version"] = None

    _reseal(store, claim_unsaved)
    assert list(store.verify(worked_case).problems) == [
        "inversion 1 is recorded as of no saved sketch, but the image it consumed is sketch "
        "version 2"]


def test_resealed_pixel_digest_is_still_detected(store, worked_case):
    def forge(entries):
        entries[1].details["pixels_sha256"] = "f" * 64

    _reseal(store, forge)
    assert any("sketch version 1" in p and "digest" in p
               for p in store.verify(worked_case).problems)


def test_clear_errors(store, worked_case, tmp_path):
    with pytest.raises(CaseError, match="no case 'nope'"):
        store.get("nope")
    with pytest.raises(CaseError, match="already exists"):
        store.create_case(worked_case)
    with pytest.raises(CaseError, match="source image rejected"):
        store.add_inversion(worked_case, b"x", source=b"not an image", model_name="m",
                            model_sha256="0" * 64, device="cpu", ms=1.0)
    with pytest.raises(CaseError, match="no inversion 7"):
        store.add_match(worked_case, [], GalleryIdentity("g", "f" * 64, 1), 0.6, inversions=7)
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"not an image")
    with pytest.raises(CaseError, match="sketch image rejected"):
        store.add_sketch(worked_case, bad)
    with pytest.raises(CaseError, match="not JSON"):
        store.add_sketch(worked_case, store.artefacts.read(
            store.get(worked_case).sketches[0].image_sha256), strokes=b"\x00garbage")
    with pytest.raises(CaseError, match="status must be"):
        store.update_case(worked_case, status="lost")
    assert store.verify(worked_case).ok  # failed requests left no trace


def test_case_numbers_and_lookup(store):
    a = store.create_case(title="a")
    b = store.create_case(title="b")
    assert a.number != b.number and a.number.endswith("0001") and b.number.endswith("0002")
    assert store.get(a.uid[:8]).info.number == a.number
    assert [c.number for c in store.list_cases()] == [b.number, a.number]


def test_match_accepts_objects_and_no_thumbnails(store, face_sketch):
    from sketchlab.cases import CandidateRecord

    n = store.create_case().number
    with pytest.raises(CaseError, match="record the photo that was searched first"):
        store.add_match(n, [], GalleryIdentity("g", "f" * 64, 1), 0.6)
    store.add_inversion(n, face_sketch[:64, :48], source=face_sketch, model_name="m",
                        model_sha256="0" * 64, device="cpu", ms=1.0)
    run = store.add_match(n, [CandidateRecord(1, "x", "f" * 64, 0.3, 0.9, True)],
                          GalleryIdentity("g", "f" * 64, 1), 0.6)
    assert run == 1 and store.get(n).matches[0].candidates[0].thumbnail_sha256 is None
    assert store.get(n).inversions[0].sketch_version is None  # never saved
    assert store.verify(n).ok


def test_two_stores_on_one_file_do_not_fork_the_chain(tmp_path, face_sketch):
    from tests.cases.conftest import png

    a, b = CaseStore(tmp_path / "s"), CaseStore(tmp_path / "s")
    n = a.create_case().number
    for i in range(4):
        (a if i % 2 else b).add_sketch(n, png(face_sketch), note=str(i))
    assert a.verify(n).ok and a.verify(n).entries == 5
    a.close()
    b.close()


def test_garbled_log_entry_is_reported_not_crashing(store, worked_case):
    con = _untriggered(store)
    con.execute("UPDATE audit_entries SET details_json='{not json' WHERE seq=2")
    problems = store.verify(worked_case).problems
    assert any("entry #2" in p and "edited" in p for p in problems)


def test_case_numbers_are_one_regardless_of_letter_case(store):
    first = store.create_case(number="ROB-17", title="first")
    with pytest.raises(CaseError, match="'ROB-17' already exists") as refused:
        store.create_case(number="rob-17", title="second")
    assert refused.value.field == "number" and "capital letters" in str(refused.value)
    with pytest.raises(CaseError, match="already exists"):
        store.create_case(number=" Rob-17 ")
    assert [c.number for c in store.list_cases()] == ["ROB-17"]
    assert store.get("rob-17").info.uid == first.uid  # typed in any case, it is found
