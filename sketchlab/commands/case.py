"""`sketchlab case ...`: case files with an audit trail, export bundles and verification."""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sketchlab.commands.common import open_gallery
from sketchlab.core.frame import FRAME_SIZE, STYLES
from sketchlab.errors import UserError

if TYPE_CHECKING:
    from sketchlab.cases import CaseStore, VerifyResult


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("case", help="case files: sketches, inversions, matches, audit, export")
    p.add_argument("--store", type=Path, default=None,
                   help="case store folder (default: the user data folder's cases/)")
    cs = p.add_subparsers(dest="case_command", metavar="ACTION", required=True)

    q = cs.add_parser("new", help="open a new case")
    q.add_argument("--number", default=None, help="case number (default: YYYY-NNNN)")
    q.add_argument("--title", default="")
    q.add_argument("--artist", default="")
    q.add_argument("--investigator", default="")
    q.add_argument("--witness", default="", help="the witness description")
    q.set_defaults(case_handler=_new)

    q = cs.add_parser("list", help="list cases, most recently active first")
    q.add_argument("--json", action="store_true")
    q.set_defaults(case_handler=_list)

    q = cs.add_parser("show", help="a case's details and audit log")
    q.add_argument("case", metavar="CASE", help="case number or UID")
    q.add_argument("--json", action="store_true")
    q.set_defaults(case_handler=_show)

    q = cs.add_parser("update", help="change a case's title, people, description or status")
    q.add_argument("case", metavar="CASE")
    q.add_argument("--title")
    q.add_argument("--artist")
    q.add_argument("--investigator")
    q.add_argument("--witness", dest="witness_description")
    q.add_argument("--status", choices=["open", "closed", "archived"])
    q.set_defaults(case_handler=_update)

    q = cs.add_parser("add-sketch", help="record a sketch version (image, strokes, note)")
    q.add_argument("case", metavar="CASE")
    q.add_argument("image", type=Path, metavar="IMAGE")
    q.add_argument("--strokes", type=Path, default=None, help="stroke data (JSON)")
    q.add_argument("--note", default="", help="the artist's note for this version")
    q.set_defaults(case_handler=_add_sketch)

    q = cs.add_parser("invert", help="invert a sketch version and record the photo")
    q.add_argument("case", metavar="CASE")
    q.add_argument("--version", type=int, default=None, help="sketch version (default: latest)")
    q.add_argument("--model", default=None, help="installed model name or .safetensors path")
    q.add_argument("--device", default="auto", help="auto (default), cpu, cuda or cuda:N")
    q.add_argument("--style", default="auto", choices=STYLES)
    q.add_argument("--source", default="auto", choices=["auto", "canvas", "scan", "photo"])
    q.add_argument("--save", type=Path, default=None, help="also write the photo here")
    q.set_defaults(case_handler=_invert)

    q = cs.add_parser("match", help="search the gallery with a sketch version as `sketchlab "
                      "match` does, and record the photos searched and the candidates "
                      "(investigative leads, not identifications)")
    q.add_argument("case", metavar="CASE")
    q.add_argument("--version", type=int, default=None,
                   help="sketch version (default: latest)")
    q.add_argument("--model", default=None, help="installed model name or .safetensors path")
    q.add_argument("--device", default="auto", help="auto (default), cpu, cuda or cuda:N")
    q.add_argument("--db", default=None, metavar="URL",
                   help="gallery: SQLAlchemy URL or SQLite file (default: $SKETCHLAB_DB or the "
                   "gallery in the user data folder)")
    q.add_argument("--top", type=int, default=10, metavar="K", help="candidates (default 10)")
    q.add_argument("--fpir", type=float, default=None, metavar="RATE",
                   help="set the threshold so that a search for someone absent from the "
                        "gallery marks a candidate at most this share of the time, at this "
                        "gallery's size (default 0.05)")
    q.add_argument("--threshold", type=float, default=None,
                   help="mark candidates within this distance instead (overrides --fpir)")
    q.add_argument("--all-photos", action="store_true",
                   help="rank photos, not subjects (a subject may appear several times)")
    q.set_defaults(case_handler=_match)

    q = cs.add_parser("export", help="write a verifiable ZIP bundle with a PDF report")
    q.add_argument("case", metavar="CASE")
    q.add_argument("--out", type=Path, required=True, metavar="FILE.zip")
    q.add_argument("--force", action="store_true", help="replace an existing file")
    q.add_argument("--no-report", action="store_true", help="leave out the PDF report")
    q.set_defaults(case_handler=_export)

    q = cs.add_parser("report", help="write just the PDF report")
    q.add_argument("case", metavar="CASE")
    q.add_argument("--out", type=Path, required=True, metavar="FILE.pdf")
    q.set_defaults(case_handler=_report)

    q = cs.add_parser("verify", help="check a case (or a bundle) for any tampering")
    q.add_argument("target", metavar="CASE|FILE.zip")
    q.set_defaults(case_handler=_verify)

    q = cs.add_parser("import", help="verify a bundle and add its case to the store")
    q.add_argument("bundle", type=Path, metavar="FILE.zip")
    q.set_defaults(case_handler=_import)
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from sketchlab.cases import CaseError, CaseStore, CaseStoreError
    try:
        with CaseStore(args.store) as store:
            return int(args.case_handler(store, args) or 0)
    except (CaseError, CaseStoreError) as exc:
        raise UserError(str(exc)) from exc


def _new(store: CaseStore, args: argparse.Namespace) -> int:
    info = store.create_case(args.number, title=args.title, artist=args.artist,
                             investigator=args.investigator, witness_description=args.witness)
    print(f"case {info.number} opened ({info.uid})")
    return 0


def _list(store: CaseStore, args: argparse.Namespace) -> int:
    cases = store.list_cases()
    if args.json:
        print(json.dumps([asdict(c) for c in cases], indent=2, ensure_ascii=False))
        return 0
    if not cases:
        print("no cases yet; open one with `sketchlab case new --title ...`")
        return 0
    for c in cases:
        print(f"{c.number:14s} {c.status:8s} {c.updated_at[:19]}  {c.audit_count:4d} entries  "
              f"{c.title}")
    return 0


def _show(store: CaseStore, args: argparse.Namespace) -> int:
    from sketchlab.cases.report_data import summarise

    case = store.get(args.case)
    entries = store.entries(case.info.uid)
    if args.json:
        print(json.dumps({"case": case.to_dict(), "audit": [e.to_dict() for e in entries]},
                         indent=2, ensure_ascii=False))
        return 0
    i = case.info
    print(f"case {i.number}: {i.title}  [{i.status}]\n  uid {i.uid}\n  artist {i.artist or '-'}"
          f", investigator {i.investigator or '-'}\n  opened {i.created_at} by {i.created_by}"
          f"\n  witness: {i.witness_description or '-'}")
    for v in case.sketches:
        print(f"  sketch v{v.version}: {v.width}x{v.height} {v.image_sha256[:12]} "
              f"{v.created_at[:19]} {v.author}  {v.note}")
    for n in case.inversions:
        ms = f"{n.ms:.0f} ms" if n.ms is not None else "?"
        of = (f"sketch v{n.sketch_version}" if n.sketch_version is not None
              else f"unsaved image {(n.source_sha256 or '')[:12]}")
        print(f"  inversion {n.number}: {of} -> {n.photo_sha256[:12]} "
              f"with {n.model_name} ({n.model_sha256[:12]}) on {n.device}, {ms}")
    for m in case.matches:
        best = m.candidates[0] if m.candidates else None
        top = f", best {best.subject} d={best.distance:.3f}" if best else ""
        print(f"  match {m.number}: {len(m.candidates)} candidates from {m.gallery.size} "
              f"photos{top}")
    print(f"  audit: {len(entries)} entries, head {i.audit_head[:16]}")
    for e in entries:
        print(f"    {e.seq:3d} {e.time[:19]} {e.who:10s} {summarise(e.action, e.details)}")
    return 0


def _update(store: CaseStore, args: argparse.Namespace) -> int:
    changes: dict[str, Any] = {k: getattr(args, k) for k in
                               ("title", "artist", "investigator", "witness_description",
                                "status") if getattr(args, k) is not None}
    info = store.update_case(args.case, **changes)
    print(f"case {info.number}: {info.audit_count} entries")
    return 0


def _add_sketch(store: CaseStore, args: argparse.Namespace) -> int:
    strokes = None
    if args.strokes is not None:
        if not args.strokes.is_file():
            raise UserError(f"{args.strokes}: file not found")
        strokes = args.strokes.read_bytes()
    version = store.add_sketch(args.case, args.image, strokes=strokes, note=args.note)
    print(f"case {args.case}: sketch version {version} recorded")
    return 0


def _invert(store: CaseStore, args: argparse.Namespace) -> int:
    from sketchlab.cases.actions import invert_sketch
    from sketchlab.core.imageio import load_image, save_image
    from sketchlab.core.inference import Inverter
    from sketchlab.core.model_catalog import resolve_model

    inverter = Inverter(resolve_model(args.model), device=args.device)
    number = invert_sketch(store, args.case, inverter, version=args.version, style=args.style,
                           source=args.source)
    inv = store.get(args.case).inversions[number - 1]
    if args.save:
        save_image(args.save, load_image(store.artefacts.read(inv.photo_sha256)))
    print(f"case {args.case}: inversion {number} of sketch v{inv.sketch_version} recorded "
          f"({inv.model_name}, {inv.ms:.0f} ms on {inv.device})")
    return 0


def _match(store: CaseStore, args: argparse.Namespace) -> int:
    from sketchlab.cases.gallery_link import search_sketch
    from sketchlab.core.inference import Inverter
    from sketchlab.core.model_catalog import resolve_model

    if args.top < 1:
        raise UserError("--top must be at least 1")
    if args.fpir is not None and not 0 < args.fpir < 1:
        raise UserError("--fpir is a share of searches between 0 and 1, e.g. 0.05")
    inverter = Inverter(resolve_model(args.model), device=args.device)
    with open_gallery(args) as gallery:
        number = search_sketch(store, args.case, gallery, inverter, version=args.version,
                               k=args.top, threshold=args.threshold, fpir=args.fpir,
                               distinct_subjects=not args.all_photos)
    run = store.get(args.case).matches[number - 1]
    print(f"case {args.case}: match run {number} recorded: {len(run.candidates)} candidates "
          f"from {run.gallery.size} faces (gallery {run.gallery.fingerprint[:12]}), "
          f"searched with inversions {', '.join(map(str, run.inversions))}, "
          f"threshold {run.threshold:g}")
    if run.calibration:
        print(run.calibration)
    for c in run.candidates:
        mark = "yes" if c.within_threshold else "-"
        print(f"  {c.rank:>3}  {c.subject[:28]:28s} {c.distance:8.4f} {c.score:6.3f}  {mark}")
    print("Candidates are investigative leads, not identifications.", file=sys.stderr)
    return 0


def _export(store: CaseStore, args: argparse.Namespace) -> int:
    from sketchlab.cases.bundle import export_bundle

    render = None
    if not args.no_report:
        from sketchlab.report.pdf import render_report

        render = render_report
    r = export_bundle(store, args.case, args.out, render_pdf=render, overwrite=args.force)
    print(f"{r.path}: {r.files} files, {r.size / 1024:.0f} KiB, {r.entries} audit entries\n"
          f"  bundle sha256 {r.sha256}\n  audit head    {r.head}")
    return 0


def _report(store: CaseStore, args: argparse.Namespace) -> int:
    from sketchlab.cases.report_data import build_report_data
    from sketchlab.core.atomic import write_bytes
    from sketchlab.report.pdf import render_report

    case = store.get(args.case)
    data = render_report(build_report_data(store, case, store.verify(args.case)))
    write_bytes(args.out, data)
    print(f"{args.out}: {len(data) / 1024:.0f} KiB")
    return 0


def _print_result(label: str, result: VerifyResult) -> int:
    if result.ok:
        print(f"{label}: OK - {result.entries} audit entries, {result.artefacts} artefacts, "
              f"chain intact\n  head {result.head}")
        return 0
    print(f"{label}: FAILED - {len(result.problems)} problem(s):", file=sys.stderr)
    for p in result.problems:
        print(f"  - {p}", file=sys.stderr)
    return 1


def _verify(store: CaseStore, args: argparse.Namespace) -> int:
    from sketchlab.cases.bundle import verify_bundle

    target = Path(args.target)
    if target.suffix.lower() == ".zip" or target.is_file():
        return _print_result(f"bundle {target.name}", verify_bundle(target))
    return _print_result(f"case {args.target}", store.verify(args.target))


def _import(store: CaseStore, args: argparse.Namespace) -> int:
    from sketchlab.cases.bundle import import_bundle

    number, result = import_bundle(store, args.bundle)
    print(f"imported case {number} from {args.bundle.name}: {result.entries} audit entries, "
          f"{result.artefacts} artefacts, verified")
    return 0


def bench_section(args: argparse.Namespace) -> dict[str, Any]:
    """`sketchlab bench`: verify and export times for a typical case (4 sketch versions,
    2 inversions, a 10-candidate search), in a temporary store."""
    import tempfile

    import numpy as np

    from sketchlab.cases import CaseStore, GalleryIdentity
    from sketchlab.cases.bundle import export_bundle, verify_bundle
    from sketchlab.core.bench import time_call

    runs = 5 if args.quick else min(args.runs, 10)
    rng = np.random.default_rng(0)

    def image(h: int, w: int) -> np.ndarray:
        return rng.integers(0, 255, (h, w, 3), dtype=np.uint8)

    def timed(fn: Any) -> dict[str, float]:
        return time_call(fn, runs, warmup=0)

    with tempfile.TemporaryDirectory() as tmp, CaseStore(Path(tmp) / "store") as store:
        n = store.create_case(title="bench").number
        sketches = [image(600, 480) for _ in range(4)]
        for v, sketch in enumerate(sketches, start=1):
            store.add_sketch(n, sketch, strokes=b'{"strokes": []}', note=f"v{v}")
        for sketch in sketches[2:]:
            store.add_inversion(n, image(*FRAME_SIZE), source=sketch, model_name="bench",
                                model_sha256="0" * 64, device="CPU", ms=100.0,
                                input_image=image(*FRAME_SIZE))
        store.add_match(n, [{"rank": i, "subject": f"s{i}", "photo_sha256": f"{i:064x}",
                             "distance": 0.4 + i / 100, "score": 0.5, "within_threshold": True,
                             "thumbnail": image(100, 80)} for i in range(1, 11)],
                        GalleryIdentity("bench", "0" * 64, 1000), 0.6, k=10)
        count = [0]

        def export(pdf: Any = None) -> None:
            count[0] += 1
            export_bundle(store, n, Path(tmp) / f"b{count[0]}.zip", render_pdf=pdf)

        out: dict[str, Any] = {"get": timed(lambda: store.get(n)),
                               "verify": timed(lambda: store.verify(n)),
                               "export_no_pdf": timed(export)}
        bundle = Path(tmp) / "b1.zip"
        out["verify_bundle"] = timed(lambda: verify_bundle(bundle))
        try:
            from sketchlab.report.pdf import render_report
        except ImportError:  # a headless install without Qt: no report timing
            return {"case": out}
        export(render_report)  # the first PDF pays Qt's font start-up once
        out["export_with_pdf"] = timed(lambda: export(render_report))
        out["bundle_kib"] = round(bundle.stat().st_size / 1024, 1)
    return {"case": out}
