"""Identity folds: a stable split of a train set by person, for sketches kept out of a run.

The 1:N rates the app states are read from train searches, but a generator makes the
people of the sketches it trained on easier to find than a new sketch's. A run that
holds one fold out (`SourceConfig.folds`, `held_out_fold`) leaves sketches by the same
artists that it never saw, and `search-rates` can read them. The fold is a hash of the
identity, so the run and the reading agree on every machine without a stored list.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from functools import cache
from pathlib import Path

from sketchlab.core.manifest import Row
from trainer.config import SourceConfig


def identity_fold(identity: str, folds: int) -> int:
    """Which of `folds` folds a person falls in (stable across runs, machines, orders)."""
    if folds < 2:
        raise ValueError("folds must be at least 2")
    return int(hashlib.sha256(identity.encode()).hexdigest()[:12], 16) % folds


def fold_rows(rows: Sequence[Row], folds: int, fold: int, held_out: bool) -> list[int]:
    """Indices of the rows in `fold` (held_out=True) or in every other fold (False)."""
    return [i for i, r in enumerate(rows) if (identity_fold(r.identity, folds) == fold) == held_out]


FOLD_MARK = "_fold"  # a held-out fold's query set is named <set>_fold<k>of<n>


def fold_set_name(name: str, fold: object, folds: object) -> str:
    """The query set of a train set's people in one held-out fold (`cufs_train_fold0of3`)."""
    return f"{name}{FOLD_MARK}{fold}of{folds}"


def base_set(name: str) -> str:
    """The train set a query set is cut from: a held-out fold is its set's people, drawn
    by the same hand."""
    return name.partition(FOLD_MARK)[0]


HELD_OUT_KEY = "held_out"  # model-file metadata: the identity folds its run never trained on


def held_out_metadata(sources: Sequence[SourceConfig]) -> str:
    """What a run held out (sources with folds), as the model file stores it."""
    return json.dumps([{"manifest": s.manifest, "split": s.split, "folds": s.folds,
                         "fold": s.held_out_fold} for s in sources if s.folds])


def held_out_fields(sources: Sequence[SourceConfig]) -> dict[str, str]:
    """The model-file metadata of a run that held people out ({} for one that did not):
    every file the run writes carries it, its training snapshots too, so an adapter fitted
    on a snapshot (`adapter fit`) leaves those people out as one fitted on the export."""
    return {HELD_OUT_KEY: held_out_metadata(sources)} if any(s.folds for s in sources) else {}


def held_out_of(metadata: dict[str, str]) -> list[dict[str, object]]:
    """The folds a model's run held out ([] for a model trained on every person)."""
    text = metadata.get(HELD_OUT_KEY, "")
    if not text:
        return []
    out = json.loads(text)
    if not isinstance(out, list) or not all(
            isinstance(h, dict) and {"manifest", "split", "folds", "fold"} <= set(h)
            for h in out):
        raise ValueError(f"malformed {HELD_OUT_KEY!r} metadata")
    return out


def is_held_out(manifest: str, split: str, identity: str,
                held: Sequence[dict[str, object]]) -> bool:
    """Whether a train person of `manifest`/`split` is one the run never trained on."""
    target = _manifest_file(manifest)
    return any(h["split"] == split and _manifest_file(str(h["manifest"])) == target
               and identity_fold(identity, int(h["folds"])) == int(h["fold"]) for h in held)


def same_fold(a: dict[str, object], b: dict[str, object]) -> bool:
    """Whether two held-out entries (`held_out_of`) hold out the same people."""
    return (a["split"] == b["split"] and int(a["folds"]) == int(b["folds"])
            and int(a["fold"]) == int(b["fold"])
            and _manifest_file(str(a["manifest"])) == _manifest_file(str(b["manifest"])))


@cache
def _manifest_file(spec: str) -> Path:
    """The file a manifest spec names (`$DATA/...`, a folder, a path), found once: the
    callers ask for every person of a set."""
    from sketchlab.core.manifest import resolve_manifest

    return resolve_manifest(spec).resolve()
