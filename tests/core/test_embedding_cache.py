"""The descriptor cache's schema: old files open (upgraded in place), unreadable ones are
set aside and the cache starts again empty."""

import sqlite3

import numpy as np

from sketchlab.core.embedding_cache import SCHEMA_VERSION, EmbeddingCache
from sketchlab.core.matching import FaceScan


def test_a_cache_from_before_the_scan_columns_is_upgraded(tmp_path):
    path = tmp_path / "old.sqlite"
    db = sqlite3.connect(path)  # the first schema, no user_version
    db.execute("CREATE TABLE emb (sha TEXT, model TEXT, box TEXT, vec BLOB, "
               "PRIMARY KEY (sha, model, box))")
    vec = np.arange(128, dtype=np.float32)
    db.execute("INSERT INTO emb VALUES ('a', 'dlib_face_recognition_resnet_model_v1', "
               "'detect', ?)", (vec.tobytes(),))
    db.commit()
    db.close()
    cache = EmbeddingCache(path)
    hit, scan = cache.get_scan("a")
    assert hit and np.array_equal(scan.vector, vec) and scan.n_faces is None  # box unknown
    cache.put_scans([("b", FaceScan(vec, (1, 2, 3, 4), 1))])
    assert cache.get_scan("b")[1].box == (1, 2, 3, 4)
    cache.close()
    db = sqlite3.connect(path)
    assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    db.close()
    assert EmbeddingCache(path).get_scan("a")[0]  # opens again at the current version


def test_an_unreadable_cache_is_set_aside_and_rebuilt(tmp_path):
    path = tmp_path / "c.sqlite"
    path.write_bytes(b"not a database at all" * 100)
    cache = EmbeddingCache(path)
    assert cache.get("x") == (False, None)
    cache.put("x", np.ones(128, np.float32))
    assert cache.get("x")[0]
    cache.close()
    assert (tmp_path / "c.sqlite.unreadable").read_bytes().startswith(b"not a database")


def test_a_cache_from_a_newer_version_is_set_aside(tmp_path):
    path = tmp_path / "c.sqlite"
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE emb (sha TEXT, something_new BLOB)")
    db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    db.commit()
    db.close()
    cache = EmbeddingCache(path)
    cache.put("x", None)
    assert cache.get("x") == (True, None)
    cache.close()
    assert (tmp_path / "c.sqlite.unreadable").is_file()


def test_many_vectors_are_stored_in_one_go(tmp_path):
    """`put_many` (enrolment's drawings) writes what `put` would, each under its model."""
    cache = EmbeddingCache(tmp_path / "c.sqlite")
    v = np.arange(128, dtype=np.float32)
    cache.put_many([("a", v, None), ("b", None, (1, 2, 3, 4))], "drawn-model")
    hit, got = cache.get("a", None, "drawn-model")
    assert hit and np.array_equal(got, v)
    assert cache.get("b", (1, 2, 3, 4), "drawn-model") == (True, None)
    assert cache.get("a") == (False, None)  # another model's row is not this one
    cache.close()
