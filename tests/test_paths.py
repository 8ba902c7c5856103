from sketchlab import paths


def test_user_dirs_follow_sketchlab_home(_isolated_home):
    for fn in (paths.user_data_dir, paths.user_config_dir, paths.user_cache_dir,
               paths.user_log_dir, paths.user_models_dir):
        d = fn()
        assert d.is_dir() and _isolated_home in d.parents


def test_bundle_root_is_repo_when_not_frozen():
    root = paths.bundle_root()
    assert (root / "sketchlab" / "paths.py").is_file()
    assert paths.models_dir() == root / "models"
    assert paths.resources_dir() == root / "resources"


def test_frozen_bundle_root(monkeypatch, tmp_path):
    import sys

    monkeypatch.setattr(sys, "_MEIPASS", str(tmp_path), raising=False)
    assert paths.bundle_root() == tmp_path
