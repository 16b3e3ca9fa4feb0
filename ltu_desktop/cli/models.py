"""`ltu-desktop models`: list, download, verify, remove and add model files (the catalog does the work)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..engine.checkpoints import validate_file
from ..models.catalog import FEATURES, MODELS_ENV, OWN_KINDS, CatalogError, Models
from ..models.download import DownloadError, Progress, human_size


class _StatusLine:
    """Progress on stderr as one line rewritten in place; `say` clears it before a normal message."""

    def __init__(self) -> None:
        self.open = False

    def __call__(self, stage: str, p: Progress) -> None:
        pct = f"{p.done / p.total * 100:5.1f}% " if p.total else ""
        of = f"/{human_size(p.total)}" if p.total else ""
        left = f", {_duration(p.seconds_left)} left" if p.seconds_left is not None and p.done != p.total else ""
        print(f"\r{stage}: {pct}{human_size(p.done)}{of} at {human_size(p.rate)}/s{left}\033[K", end="",
              file=sys.stderr, flush=True)
        self.open = True

    def say(self, message: str = "") -> None:
        if self.open:
            print("\r\033[K", end="", file=sys.stderr)
            self.open = False
        if message:
            print(message, file=sys.stderr)


def _duration(s: float) -> str:
    s = int(s)
    return f"{s // 3600}h{s % 3600 // 60:02d}m" if s >= 3600 else f"{s // 60}m{s % 60:02d}s" if s >= 60 else f"{s}s"


def add_parser(subparsers) -> argparse.ArgumentParser:
    """`validate_file` is the engine's strict loader: a file given to `add`, and a downloaded one that no published
    checksum vouches for, is opened before it is registered."""
    p = subparsers.add_parser("models", help="list, download, verify, remove or add LTU-AS model files")
    p.add_argument("--dir", type=Path, default=None, help=f"models folder (default: ${MODELS_ENV} or the app's data "
                                                          f"folder)")
    sub = p.add_subparsers(dest="models_command")
    sub.add_parser("list", help="catalog files and profiles, and which are present")
    d = sub.add_parser("download", help="download a file or every missing file of a profile (resumes)")
    d.add_argument("names", nargs="+", metavar="NAME")
    d.add_argument("--force", action="store_true", help="download again even if present")
    v = sub.add_parser("verify", help="check files against published or recorded SHA-256")
    v.add_argument("name", nargs="?", metavar="NAME")
    r = sub.add_parser("remove", help="delete a downloaded file (own files are only unregistered)")
    r.add_argument("name", metavar="NAME")
    r.add_argument("--forget", action="store_true", help="also forget its recorded checksum")
    a = sub.add_parser("add", help="register your own file after checking it")
    a.add_argument("path", type=Path)
    a.add_argument("--kind", required=True, choices=OWN_KINDS)
    a.add_argument("--name", default=None)
    a.add_argument("--features", default="fp16", choices=FEATURES,
                   help="adapters: features computed in fp16 (new GPUs) or fp32 then cast (old GPUs)")
    p.set_defaults(func=run)
    return p


def run(args: argparse.Namespace) -> int:
    line = _StatusLine()
    try:
        models = Models(args.dir, validate=validate_file)
        removed = models.clean_leftovers()
        if removed:
            line.say(f"Removed {len(removed)} folder(s) left by interrupted extractions "
                     f"({human_size(sum(size for _, size in removed))}).")
        command = args.models_command or "list"
        if command == "list":
            return _list(models)
        if command == "download":
            return _download(models, args.names, args.force, line)
        if command == "verify":
            results = models.verify(args.name, progress=line)
            line.say()
            for res in results:
                print(f"{res.name:34} {'ok' if res.ok else 'FAILED' if res.ok is False else '-':6} {res.message}")
            return 1 if any(res.ok is False for res in results) else 0
        if command == "remove":
            models.remove(args.name, forget=args.forget)
            print(f"Removed {args.name}.")
            return 0
        entry = models.add(args.path, args.kind, name=args.name, features=args.features,
                           validate=validate_file, progress=line)
        line.say(f"Registered {entry.name} ({entry.kind}) at {entry.path}.")
        return 0
    except (CatalogError, DownloadError) as exc:
        line.say(f"error: {exc}")
        return 1


def _list(models: Models) -> int:
    for s in models.status():
        e = s.entry
        state = (f"present ({human_size(s.size or 0)})" if s.present else
                 f"partial ({human_size(s.partial_bytes)}, resumes)" if s.partial_bytes else "missing")
        extra = f", features {e.features}" if e.features else ""
        size = "" if e.own else f"~{human_size(e.approx_size)}"
        print(f"{e.name:34} {e.kind:14} {size:>9}  {state}{extra}{'  [own]' if e.own else ''}")
    for path, size in models.leftovers():
        print(f"{'(leftover)':34} {path.name}: {human_size(size)} from an interrupted extraction; delete it")
    print(f"\nProfiles (models folder: {models.root}):")
    for spec in models.catalog.profiles.values():
        if spec.builtin:
            state = "built in"
        else:
            missing = models.missing(spec.name)
            state = "ready" if not missing else "needs " + ", ".join(e.name for e in missing)
        mark = " (recommended)" if spec.recommended else ""
        print(f"  {spec.name:16} {spec.label}{mark}: {state}")
    return 0


def _download(models: Models, names: list[str], force: bool, line: _StatusLine) -> int:
    wanted: list[str] = []
    for name in names:
        if name in models.catalog.profiles:
            spec = models.profile_spec(name)
            if spec.builtin:
                print(f"{name} is built in: nothing to download.", file=sys.stderr)
            wanted += [n for n in spec.files() if force or not models.present(n)]
        else:
            wanted.append(models.entry(name).name)
    for name in dict.fromkeys(wanted):
        try:
            path = models.download(name, progress=line, force=force)
        except KeyboardInterrupt:
            line.say("Interrupted; run the same command again to resume.")
            return 130
        line.say(f"{name}: {path}")
    return 0
