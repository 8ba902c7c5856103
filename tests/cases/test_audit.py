import dataclasses
import itertools

from sketchlab.cases.audit import (
    GENESIS,
    Artefact,
    AuditEntry,
    canonical_json,
    seal_next,
    verify_chain,
)

UID = "11111111-2222-3333-4444-555555555555"


def chain(n: int = 5) -> list[AuditEntry]:
    out: list[AuditEntry] = []
    for i in range(n):
        out.append(seal_next(out[-1] if out else None, UID, f"2026-01-01T00:00:0{i}+00:00",
                             "alice", "sketch.add", {"version": i + 1, "note": "ü"},
                             [Artefact("sketch", f"{i:064x}", "image/png", 10 + i)]))
    return out


def test_intact_chain_verifies_and_links():
    entries = chain()
    assert entries[0].prev_hash == GENESIS
    assert all(b.prev_hash == a.hash for a, b in itertools.pairwise(entries))
    assert verify_chain(entries, UID, entries[-1].hash, len(entries)) == []


def test_canonical_json_is_order_independent_and_strict():
    assert canonical_json({"b": 1, "a": [1.5, "é"]}) == canonical_json({"a": [1.5, "é"], "b": 1})
    assert canonical_json({"a": 1}) == '{"a":1}'


def test_edit_is_detected():
    entries = chain()
    entries[2] = dataclasses.replace(entries[2], details={"version": 3, "note": "edited"})
    problems = verify_chain(entries, UID)
    assert any("entry #3" in p and "edited" in p for p in problems)


def test_drop_in_middle_is_detected():
    entries = chain()
    del entries[2]
    problems = verify_chain(entries, UID)
    assert any("removed" in p for p in problems)


def test_drop_at_end_needs_and_uses_the_recorded_head():
    entries = chain()
    head, count = entries[-1].hash, len(entries)
    cut = entries[:-1]
    assert verify_chain(cut, UID) == []  # the chain alone cannot see a cut end...
    problems = verify_chain(cut, UID, head, count)  # ...the recorded head can
    assert any("end of the log" in p for p in problems)
    assert any("4 entries but 5" in p for p in problems)


def test_reorder_is_detected():
    entries = chain()
    entries[1], entries[2] = entries[2], entries[1]
    problems = verify_chain(entries, UID)
    assert any("reordered" in p for p in problems)


def test_entry_from_another_case_is_detected():
    entries = chain()
    problems = verify_chain(entries, "99999999-2222-3333-4444-555555555555")
    assert any("another case" in p for p in problems)


def test_resealed_edit_still_breaks_the_next_link():
    entries = chain()
    forged = dataclasses.replace(entries[1], who="mallory").sealed()
    entries[1] = forged
    problems = verify_chain(entries, UID)
    assert any("entry #3" in p and "does not follow" in p for p in problems)


def test_roundtrip_through_dict():
    e = chain(1)[0]
    assert AuditEntry.from_dict(e.to_dict()) == e
