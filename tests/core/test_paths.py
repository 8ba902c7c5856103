from sketchlab.core import paths


def test_user_dirs_follow_sketchlab_home(_isolated_home):
    for fn in (paths.user_data_dir, paths.user_config_dir, paths.user_cache_dir,
               paths.user_log_dir, paths.user_models_dir):
        d = fn()
        assert d.is_dir() and _isolated_home in d.parents


def test_bundle_root_is_repo_when_not_frozen():
    root = paths.bundle_root()
    assert (root / "sketchlab" / "core" / "paths.py").is_file()
    assert paths.models_dir() == root / "models"
    assert paths.resources_dir() == root / "resources"


def test_frozen_bundle_root(monkeypatch, tmp_path):
    import sys

    monkeypatch.setattr(sys, "_MEIPASS", str(tmp_path), raising=False)
    assert paths.bundle_root() == tmp_path


def _no_xdg(monkeypatch, home):
    import os

    for k in [k for k in os.environ if k.startswith("XDG_")]:
        monkeypatch.delenv(k)
    monkeypatch.delenv("SKETCHLAB_HOME", raising=False)
    monkeypatch.setenv("HOME", str(home))


def test_linux_user_dirs_are_the_appdirs_ones(monkeypatch, tmp_path):
    """platformdirs keeps appdirs' folders (data, config, cache), so nothing moves; only
    the log folder moved (see test_old_logs_move_to_the_new_log_dir)."""
    import sys

    import pytest

    if not sys.platform.startswith("linux"):
        pytest.skip("Linux folders")
    _no_xdg(monkeypatch, tmp_path)
    assert paths.user_data_dir() == tmp_path / ".local/share/SketchLab"
    assert paths.user_config_dir() == tmp_path / ".config/SketchLab"
    assert paths.user_cache_dir() == tmp_path / ".cache/SketchLab"
    assert paths.user_log_dir() == tmp_path / ".local/state/SketchLab/log"


def test_old_logs_move_to_the_new_log_dir(monkeypatch, tmp_path):
    import sys

    import pytest

    if not sys.platform.startswith("linux"):
        pytest.skip("only the Linux log folder moved")
    _no_xdg(monkeypatch, tmp_path)
    old = tmp_path / ".cache/SketchLab/log"
    old.mkdir(parents=True)
    (old / "sketchlab.log").write_text("line 1\n")
    (old / "sketchlab.log.1").write_text("line 0\n")
    assert paths.migrate_log_dir() == 2
    new = tmp_path / ".local/state/SketchLab/log"
    assert (new / "sketchlab.log").read_text() == "line 1\n"
    assert (new / "sketchlab.log.1").is_file() and not old.exists()
    assert (new.stat().st_mode & 0o777) == 0o700
    (old.mkdir(parents=True), (old / "sketchlab.log").write_text("stale\n"))
    assert paths.migrate_log_dir() == 0  # the new folder has logs: the old ones stay
    assert (new / "sketchlab.log").read_text() == "line 1\n"
