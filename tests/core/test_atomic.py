import pytest

from sketchlab.core.atomic import atomic_write


def test_replaces_target_only_on_success(tmp_path):
    target = tmp_path / "sub" / "f.bin"
    with atomic_write(target) as fh:
        fh.write(b"one")
    assert target.read_bytes() == b"one"
    with pytest.raises(RuntimeError), atomic_write(target) as fh:
        fh.write(b"half")
        raise RuntimeError("crash mid-write")
    assert target.read_bytes() == b"one"
    assert [p.name for p in target.parent.iterdir()] == ["f.bin"]  # no temp left behind


def test_temp_names_are_unique_per_call(tmp_path):
    target = tmp_path / "f.bin"
    with atomic_write(target) as a, atomic_write(target) as b:
        assert a.name != b.name
        a.write(b"a")
        b.write(b"b")
    assert target.read_bytes() in (b"a", b"b")
