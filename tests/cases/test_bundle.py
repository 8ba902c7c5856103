import json
import os
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest

from sketchlab.cases import CaseError, CaseStore
from sketchlab.cases import bundle as B
from sketchlab.cases.bundle import BundleError, export_bundle, import_bundle, verify_bundle
from tests.cases.tamper import fix_manifest, rewrite_zip

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def bundle(store, worked_case, tmp_path) -> Path:
    r = export_bundle(store, worked_case, tmp_path / "case.zip")
    assert r.path.is_file() and r.entries == 7  # six entries and the export's seal
    return r.path


def test_export_verify_import_round_trip(store, worked_case, bundle, tmp_path):
    with zipfile.ZipFile(bundle) as zf:
        names = set(zf.namelist())
        manifest = json.loads(zf.read("manifest.json"))
    assert {"manifest.json", "case.json", "audit.jsonl"} <= names
    listed = {f["path"] for f in manifest["files"]}
    assert listed == names - {"manifest.json"}
    case = store.get(worked_case)
    shas = {case.sketches[0].image_sha256, case.latest_inversion.photo_sha256,
            *(c.thumbnail_sha256 for c in case.latest_match.candidates)}
    assert all(any(n.startswith(f"artefacts/{s}") for n in names) for s in shas)
    result = verify_bundle(bundle)
    assert result.ok, result.problems
    # the export itself is on the record and ends the bundle's log, sealing its contents
    *before, last = store.entries(worked_case)
    assert last.action == "case.export" and last.hash == result.head
    assert last.details["head"] == before[-1].hash and last.details["report"] is False
    assert last.details["artefacts"] == sorted(shas | {
        a.sha256 for e in before for a in e.artefacts})
    other = CaseStore(tmp_path / "other")
    number, _ = import_bundle(other, bundle)
    assert number == worked_case
    assert other.verify(number).ok
    imported = other.get(number)
    assert imported.sketches == case.sketches and imported.matches == case.matches
    assert other.entries(number)[-1].action == "case.import"
    with pytest.raises(CaseError, match="already in this store"):
        import_bundle(other, bundle)
    other.close()


def _tampered(bundle: Path, tmp_path: Path, edit) -> Path:
    return rewrite_zip(bundle, tmp_path / "tampered.zip", edit)


def _edit_member(name_pred, fn):
    def edit(members):
        return [(n, fn(d) if name_pred(n) else d) for n, d in members]
    return edit


def _assert_refused(store_dir: Path, path: Path, *needles: str) -> None:
    result = verify_bundle(path)
    assert not result.ok
    text = "\n".join(result.problems)
    for needle in needles:
        assert needle in text, text
    s = CaseStore(store_dir)
    with pytest.raises(BundleError, match="fails verification"):
        import_bundle(s, path)
    assert s.list_cases() == []  # nothing half-imported
    s.close()


def _flip(data: bytes) -> bytes:
    b = bytearray(data)
    b[len(b) // 2] ^= 0x01
    return bytes(b)


def test_one_changed_image_byte_is_detected(bundle, tmp_path):
    path = _tampered(bundle, tmp_path, _edit_member(
        lambda n: n.startswith("artefacts/") and n.endswith(".png"), _flip))
    _assert_refused(tmp_path / "s", path, "does not match its SHA-256 in the manifest",
                    "bytes do not match the SHA-256 in its name")


def test_changed_image_with_forged_manifest_is_still_detected(bundle, tmp_path):
    def edit(members):
        return fix_manifest([(n, _flip(d) if n.startswith("artefacts/") else d)
                             for n, d in members])
    _assert_refused(tmp_path / "s", _tampered(bundle, tmp_path, edit),
                    "bytes do not match the SHA-256 in its name")


def _lines_edit(fn):
    def edit(data: bytes) -> bytes:
        lines = data.decode().splitlines()
        return ("\n".join(fn(lines)) + "\n").encode()
    return _edit_member(lambda n: n == "audit.jsonl", edit)


def test_edited_log_entry_is_detected(bundle, tmp_path):
    def fn(lines):
        e = json.loads(lines[3])
        e["details"]["model_name"] = "some-other-model"
        lines[3] = json.dumps(e)
        return lines
    _assert_refused(tmp_path / "s", _tampered(bundle, tmp_path, _lines_edit(fn)),
                    "entry #4", "edited", "does not match its SHA-256 in the manifest")


def test_dropped_log_entry_is_detected(bundle, tmp_path):
    _assert_refused(tmp_path / "s", _tampered(bundle, tmp_path, _lines_edit(
        lambda lines: lines[:2] + lines[3:])), "removed")


def test_dropped_last_entry_is_detected(bundle, tmp_path):
    _assert_refused(tmp_path / "s", _tampered(bundle, tmp_path, _lines_edit(
        lambda lines: lines[:-1])), "end of the log")


def test_reordered_log_entries_are_detected(bundle, tmp_path):
    _assert_refused(tmp_path / "s", _tampered(bundle, tmp_path, _lines_edit(
        lambda lines: [lines[0], lines[2], lines[1], *lines[3:]])), "reordered")


def test_edited_case_json_is_detected(bundle, tmp_path):
    def fn(data):
        c = json.loads(data)
        c["matches"][0]["candidates"][0]["subject"] = "someone-else"
        return json.dumps(c).encode()
    _assert_refused(tmp_path / "s", _tampered(bundle, tmp_path, _edit_member(
        lambda n: n == "case.json", fn)), "candidates[0].subject")


def test_added_member_is_detected(bundle, tmp_path):
    def edit(members):
        return [*members, ("artefacts/" + "0" * 64 + ".png", b"extra")]
    _assert_refused(tmp_path / "s", _tampered(bundle, tmp_path, edit), "not in the manifest")


@pytest.mark.parametrize("evil", ["../../evil.txt", "/etc/evil", "artefacts/../../x",
                                  "..\\..\\evil.txt", "C:/evil"])
def test_zip_slip_is_refused(bundle, tmp_path, evil):
    path = _tampered(bundle, tmp_path, lambda m: [*m, (evil, b"owned")])
    s = CaseStore(tmp_path / "s")
    with pytest.raises(BundleError, match="zip-slip"):
        import_bundle(s, path)
    with pytest.raises(BundleError, match="zip-slip"):
        verify_bundle(path)
    assert s.list_cases() == []
    assert not (tmp_path / "evil.txt").exists()
    s.close()


def test_oversized_member_is_refused(bundle, tmp_path, monkeypatch):
    monkeypatch.setattr(B, "MAX_MEMBER_BYTES", 1000)
    s = CaseStore(tmp_path / "s")
    with pytest.raises(BundleError, match="uncompressed"):
        import_bundle(s, bundle)
    s.close()


def test_zip_bomb_is_refused(bundle, tmp_path):
    bomb = ("artefacts/" + "1" * 64 + ".png", bytes(4 * 1024 * 1024))
    path = _tampered(bundle, tmp_path, lambda m: [*m, bomb])
    with pytest.raises(BundleError, match="zip bomb"):
        verify_bundle(path)


def test_not_a_bundle(tmp_path):
    junk = tmp_path / "junk.zip"
    junk.write_bytes(b"no zip here")
    with pytest.raises(BundleError, match="not a readable ZIP"):
        verify_bundle(junk)
    other = tmp_path / "other.zip"
    with zipfile.ZipFile(other, "w") as zf:
        zf.writestr("case.json", "{}")
    with pytest.raises(BundleError, match=r"no manifest\.json"):
        verify_bundle(other)


def test_export_refuses_to_overwrite_and_refuses_a_damaged_case(store, worked_case, bundle):
    with pytest.raises(CaseError, match="already exists"):
        export_bundle(store, worked_case, bundle)
    sha = store.get(worked_case).sketches[0].image_sha256
    p = store.artefacts.path(sha)
    p.write_bytes(_flip(p.read_bytes()))
    with pytest.raises(CaseError, match="fails verification, not exported"):
        export_bundle(store, worked_case, bundle, overwrite=True)
    assert verify_bundle(bundle).ok  # the good bundle was not replaced


_CHILD = """
import sys, time
from pathlib import Path
from sketchlab.cases import CaseStore
from sketchlab.cases import bundle as B
root, out, flag = map(Path, sys.argv[1:4])
store = CaseStore(root)
real = B._write_member
def slow(zf, name, data, compress):
    real(zf, name, data, compress)
    flag.touch()  # at least one member is in the temp file now
    time.sleep(0.5)
B._write_member = slow
B.export_bundle(store, store.list_cases()[0].number, out)
"""


def test_kill_9_during_export_leaves_no_bundle(store, worked_case, tmp_path):
    out, flag = tmp_path / "out" / "case.zip", tmp_path / "started"
    env = {**os.environ, "PYTHONPATH": f"{REPO}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    proc = subprocess.Popen([sys.executable, "-c", _CHILD, str(store.root), str(out),
                             str(flag)], env=env)
    try:
        deadline = time.monotonic() + 60
        while not flag.exists():
            assert proc.poll() is None, "export child exited early"
            assert time.monotonic() < deadline, "export child never started writing"
            time.sleep(0.02)
        parts = list(out.parent.glob(".case.zip.*.part"))
        assert parts and parts[0].stat().st_size > 0  # killed mid-write, not before
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == -signal.SIGKILL
    assert not out.exists()
    # The log states no export: the bundle never reached its place.
    assert [e for e in store.entries(worked_case) if e.action == "case.export"] == []
    assert list(out.parent.glob(".case.zip.*.part"))  # what the kill left behind
    # The store's next start sweeps it, wherever the export was writing.
    CaseStore(store.root).close()
    assert list(out.parent.glob(".case.zip.*.part")) == []
    assert list((store.root / "exporting").glob("*")) == []
    # the store is unharmed and a new export works, recorded once, with its bundle
    assert store.verify(worked_case).ok
    result = export_bundle(store, worked_case, out)
    assert verify_bundle(result.path).ok
    exports = [e for e in store.entries(worked_case) if e.action == "case.export"]
    assert len(exports) == 1 and exports[0].hash == result.head


def test_a_live_exports_temp_file_is_left_alone(store, tmp_path):
    """Another start while an export is under way does not touch its temp file."""
    with store.exporting(tmp_path):
        live = tmp_path / f".case.zip.{os.getpid()}.abcdefgh.part"
        live.write_bytes(b"half")
        CaseStore(store.root).close()
        assert live.exists()
    assert list((store.root / "exporting").glob("*")) == []


def test_export_not_recorded_when_the_log_moved_on(store, worked_case, tmp_path):
    """The seal must follow the log's head; work recorded meanwhile voids the export."""
    seal = store.next_event(worked_case, "case.export", {"file": "x.zip"})
    store.update_case(worked_case, title="changed meanwhile")
    with pytest.raises(CaseError, match="changed while"):
        store.append_prepared(worked_case, seal)
    assert [e for e in store.entries(worked_case) if e.action == "case.export"] == []


@pytest.mark.parametrize("member", ["audit.jsonl", "case.json", "manifest.json"])
def test_random_corruption_is_refused_never_crashes(bundle, tmp_path, member):
    """Flipped bytes anywhere in the JSON members: a clear refusal, never a traceback."""
    import random

    rng = random.Random(member)
    for i in range(25):
        def corrupt(data: bytes) -> bytes:
            b = bytearray(data)
            for _ in range(rng.randint(1, 3)):
                j = rng.randrange(len(b))
                b[j] = (b[j] + rng.randrange(1, 256)) % 256  # always a different byte
            return bytes(b)
        path = rewrite_zip(bundle, tmp_path / f"c{i}.zip",
                           _edit_member(lambda n: n == member, corrupt))
        try:
            result = verify_bundle(path)
        except BundleError:
            continue
        assert not result.ok


def _resealed(src: Path, dst: Path, edit_entries) -> Path:
    """The thorough forgery: edit the log, re-seal every hash, rewrite case.json from the
    edited log and the manifest to match. Only the pictures can give it away."""
    from sketchlab.cases.audit import GENESIS, AuditEntry
    from sketchlab.cases.projection import replay

    def edit(members):
        d = dict(members)
        entries = [AuditEntry.from_dict(json.loads(x)) for x in d["audit.jsonl"].splitlines()]
        edit_entries(entries)
        prev, sealed = GENESIS, []
        for e in entries:
            e = AuditEntry(**{**e.__dict__, "prev_hash": prev}).sealed()
            sealed.append(e)
            prev = e.hash
        d["audit.jsonl"] = "".join(e.to_json() + "\n" for e in sealed).encode()
        d["case.json"] = json.dumps(replay(sealed).to_dict()).encode()
        m = json.loads(d["manifest.json"])
        m["audit"]["head"] = prev
        m["files"] = [{"path": n, "sha256": B.sha256_bytes(x), "size": len(x)}
                      for n, x in d.items() if n != "manifest.json"]
        d["manifest.json"] = json.dumps(m).encode()
        return list(d.items())
    return rewrite_zip(src, dst, edit)


def test_resealed_misattribution_in_a_bundle_is_detected(bundle, tmp_path):
    def claim_version_1(entries):
        next(e for e in entries if e.action == "inversion.add").details["sketch_version"] = 1

    forged = _resealed(bundle, tmp_path / "forged.zip", claim_version_1)
    assert list(verify_bundle(forged).problems) == [
        "inversion 1 is recorded as of sketch version 1, but the image it consumed is a "
        "different picture"]
    with CaseStore(tmp_path / "s") as s, pytest.raises(BundleError, match="different picture"):
        import_bundle(s, forged)


def test_resealed_hidden_tie_in_a_bundle_is_detected(bundle, tmp_path):
    def claim_unsaved(entries):
        next(e for e in entries if e.action == "inversion.add").details["sketch_version"] = None

    forged = _resealed(bundle, tmp_path / "forged.zip", claim_unsaved)
    assert list(verify_bundle(forged).problems) == [
        "inversion 1 is recorded as of no saved sketch, but the image it consumed is sketch "
        "version 2"]
