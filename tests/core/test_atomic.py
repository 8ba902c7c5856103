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


def test_files_are_owner_only_whatever_the_umask(tmp_path):
    import os
    import stat

    from sketchlab.core.atomic import private_file, write_text

    old = os.umask(0o022)
    try:
        write_text(tmp_path / "new" / "deeper" / "f.txt", "case C-1")
        private_file(tmp_path / "new" / "db.sqlite")
    finally:
        os.umask(old)
    mode = lambda p: stat.S_IMODE(p.stat().st_mode)  # noqa: E731
    assert mode(tmp_path / "new" / "deeper" / "f.txt") == 0o600
    assert mode(tmp_path / "new" / "db.sqlite") == 0o600
    assert mode(tmp_path / "new") == mode(tmp_path / "new" / "deeper") == 0o700


def test_secure_tree_migrates_loose_modes_and_leaves_links(tmp_path):
    import os
    import stat

    from sketchlab.core.atomic import secure_tree

    (tmp_path / "home" / "cache").mkdir(parents=True)
    f = tmp_path / "home" / "cache" / "emb.sqlite"
    f.write_bytes(b"x")
    script = tmp_path / "home" / "run.sh"
    script.write_bytes(b"#!/bin/sh\n")
    outside = tmp_path / "outside.txt"
    outside.write_bytes(b"not ours to change")
    (tmp_path / "home" / "link").symlink_to(outside)
    for p, m in [(tmp_path / "home", 0o755), (tmp_path / "home" / "cache", 0o755), (f, 0o644),
                 (script, 0o755), (outside, 0o644)]:
        os.chmod(p, m)
    assert secure_tree(tmp_path / "home") == 4
    mode = lambda p: stat.S_IMODE(p.stat().st_mode)  # noqa: E731
    assert (mode(tmp_path / "home"), mode(f), mode(script)) == (0o700, 0o600, 0o700)
    assert mode(outside) == 0o644
    assert secure_tree(tmp_path / "home") == 0
