"""How a tamperer edits a case bundle: member by member, and then (the careful one) with a
manifest that lists the edited members as they now are. Shared by the bundle tests and the
reliability reproductions."""

from __future__ import annotations

import json
import zipfile
from collections.abc import Callable
from pathlib import Path

from sketchlab.core.hashing import sha256_bytes

Members = list[tuple[str, bytes]]


def rewrite_zip(src: Path, dst: Path, edit: Callable[[Members], Members]) -> Path:
    """Copy a bundle member by member through `edit`."""
    with zipfile.ZipFile(src) as zf:
        members = [(i.filename, zf.read(i)) for i in zf.infolist()]
    with zipfile.ZipFile(dst, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in edit(members):
            zf.writestr(name, data)
    return dst


def fix_manifest(members: Members) -> Members:
    """What a careful tamperer does after editing: list the members as they now are."""
    files = [{"path": n, "sha256": sha256_bytes(d), "size": len(d)}
             for n, d in members if n != "manifest.json"]
    out = []
    for n, d in members:
        if n == "manifest.json":
            m = json.loads(d)
            m["files"] = files
            d = json.dumps(m).encode()
        out.append((n, d))
    return out
