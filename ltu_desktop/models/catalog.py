"""The model catalog: which released files exist, where they live, whether they are whole, and profiles.

`models/catalog.toml` lists the authors' files and the profiles that combine them. Files live in one
models folder; `records.json` beside them keeps the size and SHA-256 of every file after its first
complete download (most releases publish no checksum), and the files the person registered with `add`,
so a later `verify` or re-download can tell a changed or damaged file. No Qt and no torch at import:
the CLI, the GUI and tests share this module.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

import platformdirs

from .download import (DownloadCancelled, DownloadError, Fetched, Meter, Mismatch, Progress, extract_zip, fetch,
                       human_size, sha256_file, stale_work)

APP = "ltu-desktop"
CATALOG_ENV = "LTU_DESKTOP_CATALOG"
MODELS_ENV = "LTU_DESKTOP_MODELS"
RECORDS = "records.json"
KINDS = ("llm-zip", "adapter", "full-finetune", "whisper")
OWN_KINDS = ("llm", "adapter", "full-finetune", "whisper")
FEATURES = ("fp16", "fp32-then-fp16")
ROLE_KINDS = {"llm": ("llm-zip", "llm"), "adapter": ("adapter", "full-finetune"),
              "feature_whisper": ("whisper",), "asr_whisper": ("whisper",)}

Validator = Callable[[Path, str], None]
StageProgress = Callable[[str, Progress], None]


class CatalogError(RuntimeError):
    """A bad catalog, an unknown name or a file that cannot be registered; the message is for the person."""


@dataclass(frozen=True)
class Entry:
    """One file (or folder) of the catalog, or one the person registered (`own`, with an absolute path)."""

    name: str
    path: str
    kind: str
    url: str = ""
    mirrors: tuple[str, ...] = ()
    approx_size: int = 0
    sha256: str | None = None
    features: str | None = None
    description: str = ""
    default: bool = False
    own: bool = False

    @property
    def is_folder(self) -> bool:
        return self.kind in ("llm-zip", "llm")

    @property
    def urls(self) -> tuple[str, ...]:
        return (self.url, *self.mirrors) if self.url else self.mirrors


@dataclass(frozen=True)
class ProfileSpec:
    """Files that go together; `builtin` names the module that provides a profile without downloads."""

    name: str
    label: str
    llm: str = ""
    adapter: str = ""
    feature_whisper: str = ""
    asr_whisper: str = ""
    description: str = ""
    recommended: bool = False
    builtin: str | None = None
    family: str = "ltu-as"  # the engine's model family: "ltu" profiles hear through CAV-MAE, no feature Whisper

    def files(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(n for n in (self.llm, self.adapter, self.feature_whisper, self.asr_whisper) if n))


@dataclass(frozen=True)
class Catalog:
    files: dict[str, Entry]
    profiles: dict[str, ProfileSpec]
    default_profile: str
    source: Path | None = None

    @classmethod
    def load(cls, path: str | Path | None = None) -> Catalog:
        path = Path(path) if path else catalog_path()
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise CatalogError(f"Cannot read the model catalog {path}: {exc}") from None
        return cls.parse(data, path)

    @classmethod
    def parse(cls, data: dict, source: Path | None = None) -> Catalog:
        where = source or "catalog"

        def bad(msg: str) -> CatalogError:
            return CatalogError(f"{where}: {msg}")

        files: dict[str, Entry] = {}
        for name, f in (data.get("files") or {}).items():
            missing = [k for k in ("path", "kind", "url", "approx_size", "description") if not f.get(k)]
            if missing:
                raise bad(f"file {name!r} lacks {', '.join(missing)}")
            if f["kind"] not in KINDS:
                raise bad(f"file {name!r} has kind {f['kind']!r}, not one of {', '.join(KINDS)}")
            sha = (f.get("sha256") or "").lower() or None
            if sha is not None and not re.fullmatch(r"[0-9a-f]{64}", sha):
                raise bad(f"file {name!r} has a malformed sha256")
            features = f.get("features")
            if (f["kind"] in ("adapter", "full-finetune")) != (features is not None) or (
                    features is not None and features not in FEATURES):
                raise bad(f"file {name!r}: adapters (only) say which features they expect: {' or '.join(FEATURES)}")
            if Path(f["path"]).is_absolute() or ".." in Path(f["path"]).parts:
                raise bad(f"file {name!r} must have a plain relative path")
            files[name] = Entry(name, f["path"], f["kind"], f["url"], tuple(f.get("mirrors", ())),
                                int(f["approx_size"]), sha, features, f["description"], bool(f.get("default")))
        profiles: dict[str, ProfileSpec] = {}
        for name, p in (data.get("profiles") or {}).items():
            roles = {r: p.get(r, "") for r in ROLE_KINDS}
            spec = ProfileSpec(name, p.get("label") or name, description=p.get("description", ""),
                               recommended=bool(p.get("recommended")), builtin=p.get("builtin"),
                               family=p.get("family", "ltu-as"), **roles)
            if spec.family not in ("ltu-as", "ltu"):
                raise bad(f"profile {name!r} has family {spec.family!r}, not ltu-as or ltu")
            if spec.family == "ltu" and spec.feature_whisper:
                raise bad(f"profile {name!r}: LTU computes its own features and takes no feature_whisper")
            optional = ("asr_whisper", "feature_whisper") if spec.family == "ltu" else ("asr_whisper",)
            for role, kinds in ROLE_KINDS.items():
                ref = roles[role]
                if not ref and not spec.builtin and role not in optional:
                    raise bad(f"profile {name!r} lacks {role}")
                if ref and (ref not in files or files[ref].kind not in kinds):
                    raise bad(f"profile {name!r}: {role} {ref!r} is not a {'/'.join(kinds)} file of the catalog")
            profiles[name] = spec
        default = data.get("default_profile", "")
        if default not in profiles:
            raise bad(f"default_profile {default!r} is not a profile")
        return cls(files, profiles, default, source)


def catalog_path() -> Path:
    """$LTU_DESKTOP_CATALOG (a mirror's catalog), else the one inside the package (a built wheel carries it)."""
    env = os.environ.get(CATALOG_ENV)
    if env:
        return Path(env).expanduser()
    return Path(__file__).resolve().parent / "catalog.toml"


def models_dir(override: str | Path | None = None) -> Path:
    """The argument, else $LTU_DESKTOP_MODELS, else `models` in the app's data folder (not created here)."""
    chosen = override or os.environ.get(MODELS_ENV)
    if chosen:
        return Path(chosen).expanduser()
    return Path(os.environ.get("LTU_DESKTOP_DATA") or platformdirs.user_data_dir(APP)).expanduser() / "models"


@dataclass(frozen=True)
class FileStatus:
    entry: Entry
    path: Path
    present: bool
    partial_bytes: int  # size of an interrupted download waiting to be resumed
    size: int | None  # on disk, when present
    checksum: str  # "published", "recorded" or "none": what `verify` can compare against


@dataclass(frozen=True)
class VerifyResult:
    name: str
    ok: bool | None  # None: nothing to compare against (absent, or never recorded)
    message: str


class Models:
    """The models folder: catalog files, the person's own files, and the record of their checksums."""

    def __init__(self, root: str | Path | None = None, catalog: Catalog | None = None,
                 validate: Validator | None = None):
        """`validate(path, kind)` is the engine's strict loader: with it, a file without a published checksum is
        opened before its hash is recorded as the truth, so a corrupt first download is never trusted."""
        self.root = models_dir(root)
        self.catalog = catalog or Catalog.load()
        self.validate = validate
        self._lock = threading.Lock()

    def leftovers(self) -> list[tuple[Path, int]]:
        """Folders a killed extraction or swap left in the models folder, with their size (an LLM zip's is
        13 GB each time)."""
        return [(p, _tree_size(p)) for p in stale_work(self.root)] if self.root.is_dir() else []

    def clean_leftovers(self) -> list[tuple[Path, int]]:
        """Delete those folders; returns what was removed (a folder that could not be removed stays listed)."""
        removed = []
        for path, size in self.leftovers():
            shutil.rmtree(path, ignore_errors=True)
            if not path.exists():
                removed.append((path, size))
        return removed

    @property
    def record_path(self) -> Path:
        return self.root / RECORDS

    def _records(self) -> dict:
        try:
            data = json.loads(self.record_path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {"files": {}, "own": {}}
        except (OSError, ValueError) as exc:
            raise CatalogError(f"The record of model checksums {self.record_path} is damaged ({exc}); "
                               f"move it away and run `ltu-desktop models verify` again.") from None
        return {"files": data.get("files", {}), "own": data.get("own", {})}

    def _update_records(self, change: Callable[[dict], None]) -> None:
        """Read-change-write under a lock, replaced atomically so a crash never leaves half a record."""
        with self._lock:
            data = self._records()
            change(data)
            self.root.mkdir(parents=True, exist_ok=True)
            tmp = self.root / f".records-{uuid.uuid4().hex[:8]}.tmp"
            with os.fdopen(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666), "w", encoding="utf-8") as f:
                json.dump({"version": 1, **data}, f, indent=1, sort_keys=True)
            os.replace(tmp, self.record_path)

    def entries(self) -> dict[str, Entry]:
        own = {n: Entry(n, r["path"], r["kind"], features=r.get("features"), description=r.get("description", ""),
                        own=True) for n, r in self._records()["own"].items()}
        return {**self.catalog.files, **own}

    def entry(self, name: str) -> Entry:
        entries = self.entries()
        if name in entries:
            return entries[name]
        for e in entries.values():
            if name in (e.path, Path(e.path).name):
                return e
        raise CatalogError(f"No model file named {name!r}; `ltu-desktop models list` shows the names.")

    def path_of(self, entry: Entry | str) -> Path:
        entry = self.entry(entry) if isinstance(entry, str) else entry
        return Path(entry.path) if entry.own else self.root / entry.path

    def present(self, entry: Entry | str) -> bool:
        entry = self.entry(entry) if isinstance(entry, str) else entry
        path = self.path_of(entry)
        return (path / "config.json").is_file() if entry.is_folder else path.is_file()

    def _download_path(self, entry: Entry) -> Path:
        return self.root / (entry.path + ".zip" if entry.kind == "llm-zip" else entry.path)

    def status(self) -> list[FileStatus]:
        records = self._records()
        recorded = {**records["files"], **records["own"]}
        out = []
        for e in self.entries().values():
            path, present = self.path_of(e), self.present(e)
            part = self._download_path(e).with_name(self._download_path(e).name + ".part")
            size = _tree_size(path) if present else None
            checksum = "published" if e.sha256 else "recorded" if e.name in recorded else "none"
            out.append(FileStatus(e, path, present, part.stat().st_size if part.exists() else 0, size, checksum))
        return out

    def missing(self, profile: str) -> list[Entry]:
        return [self.entry(n) for n in self.profile_spec(profile).files() if not self.present(n)]

    def profile_spec(self, name: str) -> ProfileSpec:
        try:
            return self.catalog.profiles[name]
        except KeyError:
            raise CatalogError(f"No profile named {name!r}; profiles: {', '.join(self.catalog.profiles)}.") from None

    def download(self, name: str, *, progress: StageProgress | None = None, cancel: threading.Event | None = None,
                 force: bool = False, **fetch_options) -> Path:
        """Fetch one catalog file (resuming), verify it, extract an LLM zip, and record what was installed."""
        entry = self.entry(name)
        if entry.own:
            raise CatalogError(f"{name} is your own file: there is nothing to download.")
        target = self.path_of(entry)
        if self.present(entry) and not force:
            return target
        self.clean_leftovers()
        record = self._records()["files"].get(entry.name, {})
        stage = (lambda what: (lambda p: progress(f"{what} {entry.path}", p))) if progress else (lambda what: None)
        dest = self._download_path(entry)
        opened = self.validate is not None and not entry.sha256
        try:
            if entry.kind == "llm-zip":
                if dest.is_file():  # whole and verified (fetch moves it in only then); its extraction was interrupted
                    got = Fetched(dest, dest.stat().st_size, "")
                else:
                    got = fetch(entry.urls, dest, sha256=entry.sha256, approx_size=entry.approx_size,
                                progress=stage("downloading"), cancel=cancel, **fetch_options)
                try:
                    manifest = extract_zip(got.path, target, progress=stage("extracting"), cancel=cancel,
                                           expected=record.get("manifest"),
                                           check=(lambda folder: self._open(entry, folder)) if opened else None)
                except DownloadError as exc:
                    if not isinstance(exc, DownloadCancelled):
                        got.path.unlink(missing_ok=True)
                    raise
                got.path.unlink()
                new = {"path": entry.path, "size": sum(s for s, _ in manifest.values()), "manifest": manifest}
            else:
                got = fetch(entry.urls, dest, sha256=entry.sha256 or record.get("sha256"), size=record.get("size"),
                            approx_size=entry.approx_size, progress=stage("downloading"), cancel=cancel,
                            **fetch_options)
                if opened:
                    try:
                        self._open(entry, got.path)
                    except DownloadError:
                        got.path.unlink(missing_ok=True)
                        raise
                new = {"path": entry.path, "size": got.size, "sha256": got.sha256}
        except Mismatch as exc:
            if entry.sha256 or not record:
                raise
            raise Mismatch(f"{exc} No checksum is published for {entry.name}: the one it was compared with was "
                           f"recorded at its first download ({record.get('recorded', 'earlier')}) and never "
                           f"confirmed, so that first download may have been the damaged one. If you trust the "
                           f"server's file, run `ltu-desktop models remove {entry.name} --forget`, then download "
                           f"again.") from None
        new.update(source="published" if entry.sha256 else "first download",
                   recorded=record.get("recorded") or time.strftime("%Y-%m-%dT%H:%M:%S"))
        if opened:
            new["opened"] = True  # the strict loader read it before its hash was recorded
        self._update_records(lambda d: d["files"].__setitem__(entry.name, new))
        return target

    def _open(self, entry: Entry, path: Path) -> None:
        """The strict loader on a downloaded file that no published checksum vouches for."""
        kind = "llm" if entry.kind == "llm-zip" else entry.kind
        try:
            self.validate(path, kind)
        except Exception as exc:
            what = {"llm": "an LLM folder", "adapter": "an adapter", "full-finetune": "a full fine-tune",
                    "whisper": "a Whisper checkpoint"}[kind]
            raise DownloadError(f"{entry.name}: the download does not open as {what} ({exc}); it was "
                                f"deleted and nothing was recorded. Try again later; if it repeats, the server's "
                                f"copy is damaged.") from None

    def download_profile(self, name: str, **options) -> list[Path]:
        """Every missing file of a profile, one after the other (options as for `download`)."""
        return [self.download(n, **options) for n in self.profile_spec(name).files()]

    def verify(self, name: str | None = None, *, progress: StageProgress | None = None,
               cancel: threading.Event | None = None) -> list[VerifyResult]:
        """Compare present files with the published checksum or the one recorded at their first download."""
        names = [self.entry(name).name] if name else list(self.entries())
        records = self._records()
        return [self._verify_one(self.entry(n), {**records["files"], **records["own"]}.get(n), progress, cancel)
                for n in names]

    def _verify_one(self, e: Entry, rec: dict | None, progress: StageProgress | None,
                    cancel: threading.Event | None) -> VerifyResult:
        path, rec = self.path_of(e), rec or {}
        if not self.present(e):
            return VerifyResult(e.name, None, "not downloaded" if not e.own else f"missing: {path}")
        want = rec.get("manifest") if e.is_folder else e.sha256 or rec.get("sha256")
        if not want:
            return VerifyResult(e.name, None, "present, but no checksum on record (not downloaded by ltu-desktop)")
        report = (lambda p: progress(f"checking {e.path}", p)) if progress else None
        if e.is_folder:
            actual = _manifest(path, report, cancel, only=want)
            bad = sorted(k for k in want if actual.get(k) != want[k])
            if bad:
                return VerifyResult(e.name, False, f"changed or missing since it was recorded: {', '.join(bad)}")
            return VerifyResult(e.name, True, f"{len(want)} files match the record")
        size = path.stat().st_size
        if rec.get("size") not in (None, size):
            return VerifyResult(e.name, False, f"size {size} differs from the recorded {rec['size']}: "
                                               f"changed or damaged")
        meter = Meter(report, 0, size)
        digest = sha256_file(path, cancel, meter.add).hexdigest()
        meter(meter.done, final=True)
        source = "published" if e.sha256 else "recorded"
        if digest != want:
            hint = "" if e.sha256 or e.own else (" (the recorded one comes from its first download: if that was the "
                                                 f"damaged one, `models remove {e.name} --forget` drops it)")
            return VerifyResult(e.name, False, f"SHA-256 differs from the {source} one: changed or damaged; "
                                               f"remove it and download again{hint}")
        return VerifyResult(e.name, True, f"SHA-256 matches the {source} one")

    def remove(self, name: str, *, forget: bool = False) -> None:
        """Delete a downloaded file (and any partial download); the person's own files are only unregistered.

        The checksum record stays unless `forget`, so a re-download is checked against the first one.
        """
        e = self.entry(name)
        if e.own:
            self._update_records(lambda d: d["own"].pop(e.name, None))
            return
        path, dl = self.path_of(e), self._download_path(e)
        if path.is_dir():
            shutil.rmtree(path)
        else:
            path.unlink(missing_ok=True)
        for leftover in (dl, dl.with_name(dl.name + ".part"), dl.with_name(dl.name + ".part.json")):
            leftover.unlink(missing_ok=True)
        if forget:
            self._update_records(lambda d: d["files"].pop(e.name, None))

    def add(self, path: str | Path, kind: str, *, name: str | None = None, features: str = "fp16",
            validate: Validator | None = None, progress: StageProgress | None = None) -> Entry:
        """Register the person's own file in place (never copied), after `validate(path, kind)` accepts it."""
        path = Path(path).expanduser().resolve()
        if kind not in OWN_KINDS:
            raise CatalogError(f"--kind must be one of {', '.join(OWN_KINDS)}, not {kind!r}.")
        if features not in FEATURES:
            raise CatalogError(f"--features must be one of {', '.join(FEATURES)}.")
        if not path.exists():
            raise CatalogError(f"{path} does not exist.")
        if (kind == "llm") != path.is_dir():
            raise CatalogError(f"{path}: a {kind} is {'a folder' if kind == 'llm' else 'a single file'}.")
        name = name or (path.name if path.is_dir() else path.stem)
        if name in self.catalog.files:
            raise CatalogError(f"{name!r} is a catalog name; choose another with --name.")
        if validate is not None:
            try:
                validate(path, kind)
            except Exception as exc:
                raise CatalogError(f"{path} is not a usable {kind}: {exc}") from None
        report = (lambda p: progress(f"checking {path.name}", p)) if progress else None
        rec: dict = {"path": str(path), "kind": kind, "recorded": time.strftime("%Y-%m-%dT%H:%M:%S"),
                     "description": f"your own {kind}"}
        if kind in ("adapter", "full-finetune"):
            rec["features"] = features
        if path.is_dir():
            rec["manifest"] = _manifest(path, report)
            rec["size"] = sum(s for s, _ in rec["manifest"].values())
        else:
            rec["size"], rec["sha256"] = path.stat().st_size, sha256_file(path).hexdigest()
        self._update_records(lambda d: d["own"].__setitem__(name, rec))
        return self.entry(name)

    def engine_profile(self, name: str, progress: Callable[[str, float], None] | None = None):
        """The engine's Profile for a catalog profile; raises EngineError naming what to download."""
        from ..engine.types import EngineError, Profile

        try:
            spec = self.profile_spec(name)
            if spec.builtin:
                from .profiles import demo_profile

                return demo_profile(progress)
            missing = self.missing(name)
        except CatalogError as exc:
            raise EngineError(str(exc)) from None
        if missing:
            need = ", ".join(f"{e.name} (~{human_size(e.approx_size)})" for e in missing)
            raise EngineError(f"Profile {name} is missing {need} in {self.root}: run "
                              f"`ltu-desktop models download {name}`.")
        adapter = self.entry(spec.adapter)
        return Profile(name, self.path_of(spec.llm), self.path_of(spec.asr_whisper) if spec.asr_whisper else None,
                       self.path_of(spec.feature_whisper) if spec.feature_whisper else None, self.path_of(adapter),
                       kind=spec.family, label=spec.label,
                       feature_precision="fp32" if adapter.features == "fp32-then-fp16" else "fp16")


def profile_by_name(name: str, root: str | Path | None = None):
    """The engine Profile for `--profile NAME` (used by the CLI)."""
    from ..engine.types import EngineError

    try:
        models = Models(root)
    except CatalogError as exc:
        raise EngineError(str(exc)) from None
    return models.engine_profile(name)


def _tree_size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) if path.is_dir() else path.stat().st_size


def _manifest(folder: Path, progress: Callable[[Progress], None] | None = None,
              cancel: threading.Event | None = None, only: dict | None = None) -> dict[str, list]:
    """{relative path: [size, sha256]} of the files in a folder (or of those named in `only`)."""
    files = sorted(p for p in folder.rglob("*") if p.is_file() and p.name != RECORDS)
    files = [p for p in files if only is None or p.relative_to(folder).as_posix() in only]
    meter = Meter(progress, 0, sum(p.stat().st_size for p in files))
    out = {p.relative_to(folder).as_posix(): [p.stat().st_size, sha256_file(p, cancel, meter.add).hexdigest()]
           for p in files}
    meter(meter.done, final=True)
    return out
