"""Case bundles: one ZIP that carries a case to another lab and proves it arrived intact.

Layout (every member listed with its SHA-256 in manifest.json):

    manifest.json        format, case, audit head and length, files + SHA-256 + size
    case.json            the case as its log replays (checked against the log)
    audit.jsonl          the audit chain, one canonical JSON entry per line
    artefacts/<sha>.ext  every image and stroke file the log refers to
    report.pdf           the human-readable report (when a renderer is given)

Export writes a temp file beside the target and renames it only when complete, so the
final name never holds half a bundle. Reading never extracts by member name: only a
fixed set of names is accepted, sizes are capped while reading (headers can lie), and
artefacts go into the content-addressed store under their verified hash.

The manifest can be rewritten by whoever edits the bundle, so it is not what proves the
contents. The export's log entry is sealed *before* the bundle is written (bundle format
3): that last entry seals the report's SHA-256 and the set of artefacts, and the chain
carries it. The case's own log records that entry only once the bundle is in place, so
an export killed mid-write leaves no entry for a bundle that does not exist; its temp
file is swept at the store's next start. Verification then requires the members to
equal the manifest exactly and the report and artefacts to equal the seal, so an
edited, removed or added report or artefact fails even when the manifest was fixed up
to match. Any ZIP gets a verdict: damaged members (bad CRC, lying headers, unknown
compression) are problems, JSON is bounded in size and nesting depth.
"""

from __future__ import annotations

import json
import logging
import os
import re
import stat
import struct
import time
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from sketchlab import __version__
from sketchlab.cases import projection as P
from sketchlab.cases.artefacts import extension, pixels_sha256
from sketchlab.cases.audit import AuditEntry, canonical_json, verify_chain
from sketchlab.cases.report_data import ReportData, build_report_data
from sketchlab.cases.store import (
    CaseError,
    CaseStore,
    VerifyResult,
    check_sources,
    check_views,
    utc_now,
)
from sketchlab.core.atomic import atomic_write
from sketchlab.core.hashing import sha256_bytes, sha256_file

log = logging.getLogger(__name__)

FORMAT = "sketchlab-case-bundle"
# 2: case.json is `CaseFile.to_dict()`. Format 1's case.json (the old mirror tables'
# shape) is a view nothing reads: its log, manifest and artefacts are verified as before.
# 3: the export entry that ends the log seals the report and the artefacts.
FORMAT_VERSION = 3
SEALED_SINCE = 3
MAX_MEMBERS = 5000
MAX_MEMBER_BYTES = 100 * 1024 * 1024  # one artefact (same cap as the store)
MAX_TOTAL_BYTES = 1024 * 1024 * 1024
MAX_RATIO = 200  # uncompressed / compressed; JSON logs reach ~10, PNGs ~1
_RATIO_MIN_BYTES = 1024 * 1024  # tiny members may compress absurdly well; that is harmless
_ARTEFACT_RE = re.compile(r"^artefacts/([0-9a-f]{64})\.[a-z0-9]{1,5}$")
_FIXED = ("manifest.json", "case.json", "audit.jsonl", "report.pdf")

ReportRenderer = Callable[[ReportData], bytes]


class BundleError(CaseError):
    """A bundle that is unsafe or not a SketchLab case bundle; nothing was imported."""


@dataclass(frozen=True)
class ExportResult:
    path: Path
    sha256: str
    files: int
    size: int
    entries: int
    head: str


# ---- export -------------------------------------------------------------------------


def _write_member(zf: zipfile.ZipFile, name: str, data: bytes, compress: bool,
                  when: tuple[int, int, int, int, int, int] | None = None) -> None:
    """One member, dated with the export (ZIP stores local time; `unzip -l` and file
    managers show it), not 1980-01-01."""
    info = zipfile.ZipInfo(name, date_time=when or time.localtime()[:6])
    info.compress_type = zipfile.ZIP_DEFLATED if compress else zipfile.ZIP_STORED
    info.external_attr = (stat.S_IFREG | 0o644) << 16
    zf.writestr(info, data)


def export_bundle(store: CaseStore, ref: str, out: str | os.PathLike[str],
                  render_pdf: ReportRenderer | None = None, overwrite: bool = False
                  ) -> ExportResult:
    """Write the case to `out` atomically, then record the export in the case's log.

    The case is verified first: a case that fails verification is not exported, because
    the bundle would carry the damage under a fresh manifest.
    """
    out = Path(out)
    if out.exists() and not overwrite:
        raise CaseError(f"{out} already exists; choose another name or pass --force")
    result = store.verify(ref)
    if not result.ok:
        raise CaseError(f"case {result.case_number} fails verification, not exported:\n  "
                        + "\n  ".join(result.problems))
    case = store.get(ref)
    before = store.entries(ref)
    types = {a.sha256: a.media_type for e in before for a in e.artefacts}
    files: dict[str, bytes] = {f"artefacts/{sha}{extension(types[sha])}":
                               store.artefacts.read(sha) for sha in sorted(types)}
    if render_pdf is not None:
        files["report.pdf"] = render_pdf(build_report_data(store, case, result))
    # The seal ends the bundle's chain (module doc); the store records it only once the
    # bundle is in place, so its log never states an export that was not written.
    seal = store.next_event(ref, P.CASE_EXPORT, {
        "file": out.name, "entries": len(before), "head": before[-1].hash,
        "report": render_pdf is not None,
        "report_sha256": sha256_bytes(files["report.pdf"]) if render_pdf else "",
        "artefacts": sorted(types)})
    entries = [*before, seal]
    # The case as its bundle's log replays: the export entry included, not yet stored.
    files["case.json"] = json.dumps(P.replay(entries).to_dict(), indent=2,
                                    ensure_ascii=False).encode()
    files["audit.jsonl"] = "".join(e.to_json() + "\n" for e in entries).encode()
    manifest = {
        "format": FORMAT, "format_version": FORMAT_VERSION, "created_at": utc_now(),
        "app": f"sketchlab {__version__}",
        "case": {"uid": case.info.uid, "number": case.info.number, "title": case.info.title},
        "audit": {"entries": len(entries), "head": entries[-1].hash},
        "files": [{"path": n, "sha256": sha256_bytes(d), "size": len(d)}
                  for n, d in sorted(files.items())],
    }
    with store.exporting(out.parent):
        with atomic_write(out, suffix=".part") as fh, zipfile.ZipFile(fh, "w") as zf:
            _write_member(zf, "manifest.json", json.dumps(manifest, indent=2).encode(),
                          compress=True)
            for name, data in sorted(files.items()):
                _write_member(zf, name, data, compress=not name.startswith("artefacts/"))
        _fsync_dir(out.parent)
        try:
            store.append_prepared(ref, seal)
        except CaseError:
            out.unlink(missing_ok=True)  # its seal is not in the log: it would not verify
            raise
    digest = sha256_file(out)
    log.info("exported case %s to %s (%d files, sha256 %s)", case.info.number, out,
             len(files) + 1, digest[:12])
    return ExportResult(out, digest, len(files) + 1, out.stat().st_size, len(entries),
                        entries[-1].hash)


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


# ---- reading safely -----------------------------------------------------------------


def _check_name(name: str) -> None:
    p = PurePosixPath(name)
    if (name.startswith(("/", "\\")) or "\\" in name or ".." in p.parts
            or re.match(r"^[A-Za-z]:", name) or "\x00" in name):
        raise BundleError(f"refused: member {name!r} points outside the bundle (zip-slip); "
                          "this file is not a safe SketchLab bundle")
    if name not in _FIXED and not _ARTEFACT_RE.match(name):
        raise BundleError(f"refused: unexpected member {name!r}; a SketchLab bundle holds "
                          "only manifest.json, case.json, audit.jsonl, report.pdf and "
                          "artefacts/<sha256>.<ext>")


def _check_infos(infos: list[zipfile.ZipInfo]) -> None:
    if len(infos) > MAX_MEMBERS:
        raise BundleError(f"refused: {len(infos)} members (limit {MAX_MEMBERS})")
    seen: set[str] = set()
    total = 0
    for info in infos:
        _check_name(info.filename)
        if info.filename in seen:
            raise BundleError(f"refused: member {info.filename!r} appears twice")
        seen.add(info.filename)
        mode = info.external_attr >> 16
        if stat.S_ISLNK(mode) or info.is_dir():
            raise BundleError(f"refused: member {info.filename!r} is a link or folder")
        if info.file_size > MAX_MEMBER_BYTES:
            raise BundleError(f"refused: member {info.filename!r} is "
                              f"{info.file_size / 1e6:.0f} MB uncompressed (limit "
                              f"{MAX_MEMBER_BYTES / 1e6:.0f} MB)")
        if (info.file_size > _RATIO_MIN_BYTES
                and info.file_size > MAX_RATIO * max(info.compress_size, 1)):
            raise BundleError(f"refused: member {info.filename!r} expands "
                              f"{info.file_size / max(info.compress_size, 1):.0f}x "
                              "(a zip bomb?)")
        total += info.file_size
        if total > MAX_TOTAL_BYTES:
            raise BundleError(f"refused: the bundle expands to more than "
                              f"{MAX_TOTAL_BYTES / 1e9:.0f} GB")


# Bounds for the JSON members: a manifest is a few KB, a busy case's log a few MB.
MAX_JSON_BYTES = {"manifest.json": 4 * 1024 * 1024, "case.json": 64 * 1024 * 1024,
                  "audit.jsonl": 256 * 1024 * 1024}
MAX_JSON_DEPTH = 32  # what SketchLab writes nests 6 deep
_JSON_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"')
# What a damaged or hostile ZIP raises while it is read.
_ZIP_ERRORS = (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError, ValueError,
               NotImplementedError, RuntimeError, struct.error, zlib.error, OverflowError)


def _read_capped(zf: zipfile.ZipFile, info: zipfile.ZipInfo) -> bytes:
    """Read a member, stopping at its declared size: a lying header cannot inflate it."""
    with zf.open(info) as fh:
        data = fh.read(info.file_size + 1)
    if len(data) > info.file_size or len(data) > MAX_MEMBER_BYTES:
        raise BundleError(f"refused: member {info.filename!r} is larger than its header says")
    return data


def _read_member(zf: zipfile.ZipFile, info: zipfile.ZipInfo) -> tuple[bytes | None, str]:
    """(bytes, "") or (None, why it cannot be read): a bad CRC, a header that lies about
    the sizes, an unknown compression or encryption."""
    try:
        return _read_capped(zf, info), ""
    except BundleError as exc:
        return None, str(exc).removeprefix("refused: ")
    except _ZIP_ERRORS as exc:
        return None, f"{info.filename} cannot be read ({exc.__class__.__name__}: {exc}): " \
                     "the bundle is damaged or was changed"


def json_depth(raw: bytes) -> int:
    """Deepest nesting of objects/arrays, found without parsing (strings stripped)."""
    import numpy as np

    bare = np.frombuffer(_JSON_STRING.sub(b'""', raw), np.uint8)
    steps = (np.isin(bare, (ord("{"), ord("["))).astype(np.int32)
             - np.isin(bare, (ord("}"), ord("]"))).astype(np.int32))
    return int(np.cumsum(steps).max(initial=0))


def load_json(name: str, raw: bytes) -> Any:
    """json.loads within MAX_JSON_BYTES and MAX_JSON_DEPTH; ValueError says which bound."""
    limit = MAX_JSON_BYTES.get(name.split("#")[0], MAX_JSON_BYTES["manifest.json"])
    if len(raw) > limit:
        raise ValueError(f"{name} is {len(raw) / 1e6:.1f} MB (limit {limit / 1e6:.0f} MB)")
    depth = json_depth(raw)
    if depth > MAX_JSON_DEPTH:
        raise ValueError(f"{name} nests {depth} levels deep (limit {MAX_JSON_DEPTH})")
    try:
        return json.loads(raw)
    except RecursionError as exc:  # cannot happen within the depth bound; keep it a verdict
        raise ValueError(f"{name} nests too deeply") from exc


def _parse_manifest(name: str, raw: bytes) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    """The manifest and its file list by path; any malformed part is a BundleError."""
    try:
        manifest = load_json("manifest.json", raw)
        if not isinstance(manifest, dict):
            raise ValueError("not a JSON object")
        if manifest.get("format") != FORMAT:
            raise BundleError(f"{name} is not a SketchLab case bundle "
                              f"(format {manifest.get('format')!r})")
        if int(manifest.get("format_version", 0)) > FORMAT_VERSION:
            raise BundleError(f"{name} was written by a newer SketchLab (bundle format "
                              f"{manifest.get('format_version')}); update SketchLab")
        files = manifest.get("files", [])
        if not isinstance(files, list):
            raise ValueError("'files' is not a list")
        listed = {str(f["path"]): {"sha256": str(f["sha256"]), "size": int(f["size"])}
                  for f in files}
        if len(listed) != len(files):
            raise ValueError("a file is listed twice")
        if "manifest.json" in listed:
            raise ValueError("it lists itself")
        for key in ("case", "audit"):
            if not isinstance(manifest.get(key), dict):
                raise ValueError(f"no {key!r} section")
    except BundleError:
        raise
    except (ValueError, KeyError, TypeError, OverflowError) as exc:
        raise BundleError(f"{name}: manifest.json is damaged ({exc}); the bundle cannot be "
                          "checked") from exc
    return manifest, listed


@dataclass(frozen=True)
class BundleContents:
    manifest: dict[str, Any]
    entries: list[AuditEntry]
    case_json: dict[str, Any]
    artefacts: dict[str, bytes]
    report: bytes | None


def _open_zip(path: Path) -> zipfile.ZipFile:
    try:
        return zipfile.ZipFile(path)
    except _ZIP_ERRORS as exc:
        raise BundleError(f"{path.name} is not a readable ZIP file ({exc})") from exc


def _members(zf: zipfile.ZipFile, path: Path
             ) -> tuple[dict[str, Any], dict[str, bytes], list[str]]:
    """Manifest, readable listed members, and problems: the members must equal the
    manifest's list exactly, each with its listed size and SHA-256."""
    infos = zf.infolist()
    _check_infos(infos)
    by_name = {i.filename: i for i in infos}
    if "manifest.json" not in by_name:
        raise BundleError(f"{path.name} has no manifest.json: not a SketchLab case bundle")
    raw, why = _read_member(zf, by_name["manifest.json"])
    if raw is None:
        raise BundleError(f"{path.name}: manifest.json is damaged ({why}); the bundle "
                          "cannot be checked")
    manifest, listed = _parse_manifest(path.name, raw)
    problems: list[str] = []
    data: dict[str, bytes] = {}
    for name in sorted(set(by_name) - {"manifest.json"}):
        if name not in listed:
            problems.append(f"{name} is in the bundle but not in the manifest: added "
                            "after export")
            continue
        blob, why = _read_member(zf, by_name[name])
        if blob is None:
            problems.append(why)
            continue
        if sha256_bytes(blob) != listed[name]["sha256"]:
            problems.append(f"{name} does not match its SHA-256 in the manifest: "
                            "the file was changed")
        elif len(blob) != listed[name]["size"]:
            problems.append(f"{name} is {len(blob)} bytes but the manifest says "
                            f"{listed[name]['size']}: the manifest was changed")
        data[name] = blob
    for name in sorted(set(listed) - set(by_name)):
        problems.append(f"{name} is listed in the manifest but missing from the bundle")
    return manifest, data, problems


def _check_seal(entries: list[AuditEntry], artefacts: dict[str, bytes],
                report: bytes | None, version: int) -> list[str]:
    """The bundle's report and artefacts against the export entry that ends its log."""
    problems: list[str] = []
    needed = {a.sha256 for e in entries for a in e.artefacts}
    problems += [f"artefacts/{sha[:12]}... is not named by the audit log: added after export"
                 for sha in sorted(set(artefacts) - needed)]
    seal = entries[-1] if entries else None
    sealed = seal is not None and seal.action == P.CASE_EXPORT and "report_sha256" in seal.details
    if not sealed:
        # The manifest's version can be edited too, so an older format only excuses a bundle
        # with nothing the seal would have to vouch for: no report.
        if version < SEALED_SINCE and report is None:
            return problems
        return [*problems, "the audit log does not end with the export entry that seals "
                           "this bundle (entries were removed, or it was written before "
                           "bundle format 3 and its report cannot be checked): re-export it"]
    assert seal is not None
    d = seal.details
    if sorted(d.get("artefacts") or []) != sorted(artefacts):
        problems.append("the artefacts differ from those sealed at export: an artefact was "
                        "added or removed")
    if bool(d.get("report")) != (report is not None):
        problems.append("report.pdf was removed after export" if d.get("report")
                        else "report.pdf was added after export")
    elif report is not None and sha256_bytes(report) != d.get("report_sha256"):
        problems.append("report.pdf does not match the SHA-256 sealed in the audit log at "
                        "export: the report was changed")
    return problems


def read_bundle(path: str | os.PathLike[str]) -> tuple[BundleContents | None, VerifyResult]:
    """Open, check and verify a bundle. Unsafe bundles raise BundleError; a safe bundle
    with failed checks returns its problems (contents None when unreadable)."""
    path = Path(path)
    if not path.is_file():
        raise CaseError(f"{path}: file not found")
    with _open_zip(path) as zf:
        try:
            manifest, data, problems = _members(zf, path)
        except BundleError:
            raise
        except _ZIP_ERRORS as exc:
            raise BundleError(f"{path.name} is not a readable ZIP file ({exc})") from exc
    case_uid = str(manifest.get("case", {}).get("uid", ""))
    number = str(manifest.get("case", {}).get("number", "?"))
    try:
        lines = data.get("audit.jsonl", b"").decode().splitlines()
        if len(lines) > MAX_MEMBERS * 100:
            raise ValueError(f"audit.jsonl has {len(lines)} lines")
        entries = [AuditEntry.from_dict(load_json("audit.jsonl", line.encode()))
                   for line in lines if line.strip()]
        case_json = load_json("case.json", data["case.json"]) if "case.json" in data else {}
        if not isinstance(case_json, dict):
            raise ValueError("case.json is not a JSON object")
    except (ValueError, KeyError, TypeError, AttributeError, OverflowError) as exc:
        problems.append(f"audit.jsonl or case.json cannot be read: {exc}")
        return None, VerifyResult(number, 0, "", 0, tuple(problems))
    audit = manifest.get("audit", {})
    try:
        problems += verify_chain(entries, case_uid, expected_head=audit.get("head"),
                                 expected_count=audit.get("entries"))
    except (ValueError, TypeError, RecursionError) as exc:
        problems.append(f"the audit log cannot be checked: {exc}")
    artefacts: dict[str, bytes] = {}
    damaged: set[str] = set()
    for name, blob in data.items():
        m = _ARTEFACT_RE.match(name)
        if m:
            if sha256_bytes(blob) != m.group(1):
                problems.append(f"{name}: its bytes do not match the SHA-256 in its name: "
                                "the image or file was changed")
                damaged.add(m.group(1))
            artefacts[m.group(1)] = blob
    needed = sorted({a.sha256 for e in entries for a in e.artefacts})
    problems += [f"artefact {sha[:12]} named in the audit log is missing from the bundle"
                 for sha in needed if sha not in artefacts]
    problems += check_sources(entries, lambda sha: _pixels(artefacts.get(sha)), damaged)
    try:
        version = int(manifest.get("format_version", 1))
    except (ValueError, TypeError):
        version = FORMAT_VERSION
    problems += _check_seal(entries, artefacts, data.get("report.pdf"), version)
    if not (version < 2 and "info" not in case_json):  # format 1's case.json: see above
        problems += check_views(entries, case_json, "case.json")
    return (BundleContents(manifest, entries, case_json, artefacts, data.get("report.pdf")),
            VerifyResult(number, len(entries), entries[-1].hash if entries else "",
                         len(needed), tuple(problems)))


def _pixels(data: bytes | None) -> str | None:
    try:
        return pixels_sha256(data) if data is not None else None
    except ValueError:  # not an image: reported by the checks above or harmless
        return None


def verify_bundle(path: str | os.PathLike[str]) -> VerifyResult:
    return read_bundle(path)[1]


def import_bundle(store: CaseStore, path: str | os.PathLike[str]) -> tuple[str, VerifyResult]:
    """Verify a bundle and add its case to the store; returns the case number.

    Refused (BundleError, nothing written to the case tables) when the bundle is unsafe,
    fails any check, or the case is already in the store.
    """
    path = Path(path)
    try:
        contents, result = read_bundle(path)
    except BundleError as exc:
        text = str(exc).removeprefix("refused: ")
        raise BundleError(f"refused: {text}; nothing was imported") from exc
    if contents is None or not result.ok:
        raise BundleError(f"refused: {path.name} fails verification (tampered or damaged), "
                          "nothing was imported:\n  " + "\n  ".join(result.problems))
    needed = {a.sha256 for e in contents.entries for a in e.artefacts}
    info = store.adopt(contents.entries, {s: contents.artefacts[s] for s in needed})
    store.record_event(info.uid, P.CASE_IMPORT, {
        "file": path.name, "bundle_sha256": sha256_file(path),
        "bundle_created_at": contents.manifest.get("created_at", ""),
        "bundle_app": contents.manifest.get("app", "")})
    log.info("imported case %s from %s", info.number, path)
    return info.number, result


__all__ = [
    "BundleError",
    "ExportResult",
    "ReportRenderer",
    "canonical_json",
    "export_bundle",
    "import_bundle",
    "read_bundle",
    "verify_bundle",
]
