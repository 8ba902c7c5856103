"""A candidate generator must be able to replace the bundled one as it is: the same
network shape (so the live preview's cost is unchanged), loadable by the app's own safe
loader, and named in its README by the hash the loader checks."""

from __future__ import annotations

from pathlib import Path

import pytest

from sketchlab.core.checkpoint import load_generator
from sketchlab.core.model_catalog import resolve_model

CANDIDATES = Path(__file__).resolve().parents[2] / "trainer" / "candidates"


@pytest.mark.parametrize("path", sorted(CANDIDATES.glob("*.safetensors")), ids=lambda p: p.name)
def test_a_candidate_has_the_bundled_shape_and_its_readme_hash(path: Path) -> None:
    loaded = load_generator(path)
    bundled = load_generator(resolve_model(None))
    assert loaded.config == bundled.config
    assert loaded.sha256 in (CANDIDATES / "README.md").read_text(encoding="utf-8")
