"""Dataset manifests for the trainer: `sketchlab.core.manifest`, the one reader the app,
the benchmarks and the trainer share (its names are re-exported for the trainer's modules
that import them from here)."""

from sketchlab.core.manifest import (
    ManifestError,
    Row,
    read_manifest,
    resolve_manifest,
    shared_data_dir,
)

__all__ = ["ManifestError", "Row", "read_manifest", "resolve_manifest", "shared_data_dir"]
