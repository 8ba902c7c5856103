"""`sketchlab gallery enroll|list|remove|draw|stats`: manage the gallery `match` searches."""

from __future__ import annotations

import argparse
import json
import shutil
import sys

from tqdm import tqdm

from sketchlab.commands.common import add_db_argument, open_gallery
from sketchlab.errors import UserError


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("gallery", help="enrol, list, remove and count gallery photos")
    gsub = p.add_subparsers(dest="gallery_command", metavar="ACTION", required=True)

    e = gsub.add_parser("enroll", help="add photos: folders (recursive), files, manifest.csv")
    e.add_argument("paths", nargs="+", metavar="PATH")
    add_db_argument(e)
    e.add_argument("--subject", default=None,
                   help="enrol every photo as this one subject (default: manifest identity, "
                   "else sub-folder name, else file name)")
    e.add_argument("--workers", type=int, default=None, help="processes (default: all cores)")
    e.add_argument("--batch-size", type=int, default=64,
                   help="photos per commit; a crash loses at most one batch (default 64)")
    e.add_argument("--subject-from", choices=("folder", "filename"), default="folder",
                   help="in folders, the subject is the sub-folder's name (default; a file "
                        "directly in the folder is its own subject) or the file name "
                        "without its number (filename: Name_0001.jpg -> Name)")
    e.add_argument("--largest-face", action="store_true",
                   help="enrol the largest face of multi-face photos instead of skipping them")
    e.add_argument("--no-cache", action="store_true",
                   help="ignore the shared embedding cache (for timing)")
    e.add_argument("--json", action="store_true", help="print the summary as JSON")
    e.add_argument("--show-skipped", type=int, default=20, metavar="N",
                   help="list up to N skipped files with reasons (default 20)")
    e.set_defaults(handler=run_enroll)

    ls = gsub.add_parser("list", help="list subjects, or the photos of one subject")
    add_db_argument(ls)
    ls.add_argument("--subject", default=None, metavar="ID|NAME",
                    help="list this subject's photos")
    ls.add_argument("--photos", action="store_true", help="list every photo")
    ls.add_argument("--json", action="store_true")
    ls.set_defaults(handler=run_list)

    rm = gsub.add_parser("remove", help="remove a subject (with photos) or one photo")
    add_db_argument(rm)
    what = rm.add_mutually_exclusive_group(required=True)
    what.add_argument("--subject", metavar="ID|NAME")
    what.add_argument("--photo", metavar="SHA256", help="full SHA-256 or a unique prefix")
    rm.set_defaults(handler=run_remove)

    dr = gsub.add_parser("draw", help="draw the faces of a gallery enrolled before drawings "
                         "were kept, or before the model drew them with a network, so it "
                         "is searched two ways")
    add_db_argument(dr)
    dr.add_argument("--model", default=None,
                    help="draw as this model's two-way search does (default: the bundled "
                         "model)")
    dr.set_defaults(handler=run_draw)

    st = gsub.add_parser("stats", help="counts, size and schema of the gallery")
    add_db_argument(st)
    st.add_argument("--json", action="store_true")
    st.set_defaults(handler=run_stats)


def _model_drawing(model: str | None = None):
    """How the model's two-way search draws the gallery (`model_catalog.model_drawing`);
    deferred: `sketchlab --help` starts without numpy and cv2."""
    from sketchlab.core.model_catalog import model_drawing

    return model_drawing(model)


def _subject_ids(g, key: str) -> list[int]:
    if key.isdigit() and g.subject(int(key)) is not None:
        return [int(key)]
    ids = [s.id for s in g.subjects(name=key)]
    if not ids:
        raise UserError(f"no subject with id or name {key!r}; see `sketchlab gallery list`")
    return ids


def run_enroll(args: argparse.Namespace) -> int:
    from sketchlab.enrol.run import EnrollProgress

    # A pty with no size (script, CI logs) reports 0x0, and tqdm then draws nothing.
    size = shutil.get_terminal_size((100, 20))
    bar = tqdm(total=0, unit="photo", desc="enrolling", file=sys.stderr,
               ncols=min(size.columns or 100, 120), nrows=size.lines or 20, disable=None)

    relabelled = False  # kept here: a disabled bar (no terminal) has no `unit` to read

    def progress(p: EnrollProgress) -> None:
        nonlocal relabelled
        drawing = p.phase == "drawing"  # after the files: the new faces, by the network
        if drawing and not relabelled:
            relabelled = True
            bar.set_description("drawing", refresh=False)
            bar.unit = "face"
        total, done = (p.to_draw, p.checked) if drawing else (p.total, p.done)
        if bar.total != total:
            bar.total = total
        bar.n = done
        bar.set_postfix(enrolled=p.enrolled, dup=p.duplicates, skipped=p.skipped,
                        refresh=False)
        bar.refresh()

    with bar, open_gallery(args) as g:
        summary = g.enroll(args.paths, subject=args.subject, rule=args.subject_from,
                           workers=args.workers,
                           batch_size=max(1, args.batch_size), largest_face=args.largest_face,
                           use_cache=not args.no_cache, progress=progress,
                           drawing=_model_drawing())
    if args.json:
        print(json.dumps(summary.as_dict(), indent=2))
    else:
        counts = summary.counts()
        skipped = ", ".join(f"{n} {k.replace('_', ' ')}" for k, n in sorted(counts.items()))
        print(f"enrolled {summary.enrolled} of {summary.total} photos "
              f"({summary.new_subjects} new subjects) in {summary.seconds:.1f} s "
              f"= {summary.faces_per_s:.1f} faces/s on {summary.workers} worker(s); "
              f"{summary.duplicates} already in the gallery; "
              f"{len(summary.skipped)} skipped" + (f" ({skipped})" if skipped else ""))
        for s in summary.skipped[:max(0, args.show_skipped)]:
            print(f"  skipped {s.path}: {s.reason}")
        if len(summary.skipped) > args.show_skipped:
            print(f"  ... and {len(summary.skipped) - args.show_skipped} more (use --json)")
        if summary.retry_with_largest_face() and not args.largest_face:
            print("  photos with several faces: rerun with --largest-face to enrol the "
                  "largest face of each")
        if summary.drawings is not None:
            print(f"  {summary.drawings.line()}")
        if summary.cancelled:
            print("cancelled: committed photos are kept; rerun to continue")
    return 0


def run_list(args: argparse.Namespace) -> int:
    with open_gallery(args) as g:
        if args.subject is not None or args.photos:
            ids = _subject_ids(g, args.subject) if args.subject is not None else [None]
            photos = [p for sid in ids for p in g.photos(subject_id=sid)]
            if args.json:
                print(json.dumps([{"id": p.id, "sha256": p.sha256, "subject_id": p.subject_id,
                                   "subject": p.subject_name, "source_path": p.source_path,
                                   "width": p.width, "height": p.height,
                                   "added_at": p.added_at.isoformat(),
                                   "box": list(p.box) if p.box else None} for p in photos],
                                 indent=2))
            else:
                for p in photos:
                    print(f"{p.sha256[:16]}  {p.subject_id:>6}  {p.subject_name:24.24s}  "
                          f"{p.width}x{p.height}  {p.source_path}")
                print(f"{len(photos)} photo(s)")
            return 0
        subjects = g.subjects()
        if args.json:
            print(json.dumps([{"id": s.id, "name": s.name, "external_ref": s.external_ref,
                               "notes": s.notes, "photos": s.n_photos,
                               "created_at": s.created_at.isoformat()} for s in subjects],
                             indent=2))
        else:
            for s in subjects:
                ref = f"  [{s.external_ref}]" if s.external_ref else ""
                print(f"{s.id:>6}  {s.name}{ref}  ({s.n_photos} photo{'s' * (s.n_photos != 1)})")
            print(f"{len(subjects)} subject(s)")
        return 0


def run_remove(args: argparse.Namespace) -> int:
    with open_gallery(args) as g:
        if args.photo:
            try:
                ok = g.remove_photo(args.photo)
            except ValueError as exc:
                raise UserError(str(exc)) from exc
            if not ok:
                raise UserError(f"no photo with SHA-256 {args.photo}")
            print(f"removed photo {args.photo}")
            return 0
        ids = _subject_ids(g, args.subject)
        if len(ids) > 1:
            raise UserError(f"{len(ids)} subjects are named {args.subject!r} "
                            f"(ids {', '.join(map(str, ids))}); remove one by id")
        n = g.remove_subject(ids[0])
        print(f"removed subject {ids[0]} and {n} photo(s)")
        return 0


def run_draw(args: argparse.Namespace) -> int:
    """Each face drawn as a sketch from its source file, as the model's two-way search
    draws it (`Gallery.add_drawings`)."""
    drawing = _model_drawing(args.model)
    with open_gallery(args) as g:
        bar = tqdm(total=0, unit="photo", disable=not sys.stderr.isatty(), leave=False)

        def progress(done: int, total: int) -> None:
            bar.total = total
            bar.update(done - bar.n)

        try:
            summary = g.add_drawings(progress=progress, drawing=drawing)
        except ValueError as exc:
            raise UserError(str(exc)) from exc
        finally:
            bar.close()
    print(summary.line())
    for path, why in summary.left[:20]:
        print(f"  {path}: {why}")
    return 0


def run_stats(args: argparse.Namespace) -> int:
    from sketchlab.core.drawn import drawing_words

    with open_gallery(args) as g:
        st = g.stats()
    drawing = _model_drawing()
    if args.json:
        print(json.dumps(st.as_dict(), indent=2))
        return 0
    print(f"gallery   {st.url}")
    print(f"schema    {st.schema}   revision {st.revision}")
    print(f"subjects  {st.subjects}")
    print(f"photos    {st.photos}")
    for model, n in st.models.items():
        print(f"faces     {n}  ({model})")
    if not st.embeddings:
        print("search    -")
    elif st.drawn_by(drawing.model) == st.embeddings:
        print("search    two ways (every face also drawn as a sketch; "
              f"{drawing_words(drawing.model).lower().removesuffix('.')})")
    else:
        print(f"search    one way: {st.embeddings - st.drawn_by(drawing.model)} faces have "
              "no drawing as the model draws them (`sketchlab gallery draw` adds them)")
    if st.db_bytes is not None:
        print(f"size      {st.db_bytes / 1e6:.1f} MB")
    return 0


# `sketchlab bench` sections (registered in commands/bench.py). Each takes the parsed
# arguments and returns keys to merge; one whose photos are missing (a bundle on a machine
# without the datasets) says so instead of failing the whole run.

def bench_search_1m(args: argparse.Namespace) -> dict:
    """search_1m: exact top-10 over 1M synthetic descriptors (100k with --quick), one way
    and two ways (each face with its drawing's descriptor too, `core.drawn`)."""
    from sketchlab.db.bench import bench_search

    n, runs = (100_000, 5) if args.quick else (1_000_000, max(5, args.runs))
    return {"search_1m": bench_search(n, k=10, runs=runs),
            "search_1m_two_way": bench_search(n, k=10, runs=runs, two_way=True)}


def bench_enrolment(args: argparse.Namespace) -> dict:
    """enroll_faces_per_s: 600 real photos on all cores with the batched descriptor (6
    inline with --quick), and enroll_unbatched (dlib's per-face call) beside it."""
    from sketchlab.db.bench import bench_enroll, sample_photos

    photos = sample_photos(6 if args.quick else 600)
    if not photos:
        return {"enroll_faces_per_s": None,
                "enroll": {"error": "no face photos found (set SKETCHLAB_SHARED_DATA)"}}
    workers = 1 if args.quick else None
    enroll = bench_enroll(photos, workers=workers, batched=True)
    return {"enroll_faces_per_s": enroll.pop("faces_per_s"), "enroll": enroll,
            "enroll_unbatched": bench_enroll(photos, workers=workers, batched=False)}


def bench_search_at_scale(args: argparse.Namespace) -> dict:
    """search_10m: exact, the local IVF index and pgvector HNSW at the --scale sizes
    (20k with --quick, else 1M; 0 skips it), on synthetic descriptors fitted to LFW's."""
    from sketchlab.db.bench import bench_search_scale

    scale = getattr(args, "scale", None) or ("20000" if args.quick else "1000000")
    sizes = [int(float(x)) for x in scale.split(",") if x.strip() and float(x) > 0]
    if not sizes:
        return {}
    backends = tuple(b.strip() for b in getattr(args, "backends", "exact").split(","))
    return {"search_10m": bench_search_scale(sizes, backends,
                                             queries=10 if args.quick else 50)}
