"""User settings as one plain JSON file, so they are readable, diffable and free of Qt.

The folder is platformdirs' user config dir for "ltu-desktop", or $LTU_DESKTOP_CONFIG when set
(tests and portable installs point it elsewhere). A missing or damaged file gives defaults: a
bad settings file must never keep the app from starting.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

CONFIG_ENV = "LTU_DESKTOP_CONFIG"
FILE_NAME = "settings.json"
DEVICES = ("auto", "cpu", "cuda")
PRECISIONS = ("auto", "fp32", "bf16", "fp16", "int8", "nf4")
TRANSCRIPTS = ("auto", "openai-whisper", "ctranslate2")  # models.transcripts.BACKENDS
THEMES = ("system", "light", "dark")
RECENT_MODELS = 6  # own models remembered for Ask both


def config_dir() -> Path:
    override = os.environ.get(CONFIG_ENV)
    if override:
        return Path(override)
    from platformdirs import user_config_dir

    return Path(user_config_dir("ltu-desktop"))


def recordings_dir() -> Path:
    """Recordings are the person's data: they go to the app's data folder ($LTU_DESKTOP_DATA)."""
    from .paths import data_dir

    return data_dir() / "recordings"


FIELD_TITLES = {"llm": "Base LLM folder", "adapter": "Adapter / fine-tune file",
                "feature_whisper": "Whisper feature checkpoint", "asr_whisper": "Whisper ASR checkpoint",
                "run": "Fine-tuned run"}


@dataclass
class ModelChoice:
    """Which model the person picked: the demo profile, their own LTU or LTU-AS files (paths as text), or a
    fine-tuning run folder (its base files with its adapter, as its training.json says)."""

    kind: str = "demo"  # "demo" | "files" | "run"
    llm: str = ""
    adapter: str = ""
    feature_whisper: str = ""
    asr_whisper: str = ""
    run: str = ""

    def label(self) -> str:
        if self.kind == "demo":
            return "Demo profile"
        if self.kind == "run":
            return f"fine-tuned {Path(self.run).name}"
        name = Path(self.adapter).name if self.adapter else Path(self.llm).name
        return f"own model ({name})" if name else "own model files"

    def missing(self) -> list[str]:
        """Paths that are required or given but do not exist, described for a person."""
        if self.kind == "demo":
            return []
        problems = []
        return [f"{FIELD_TITLES[name]}: {problem}" for name, problem in self.problems().items()]

    def problems(self) -> dict[str, str]:
        """By field: what is wrong with each path (required but empty, or not there), all at once."""
        if self.kind == "demo":
            return {}
        if self.kind == "run":  # the model dialog reads the whole card (models/runs.py); here only the folder
            if not self.run:
                return {"run": "not chosen"}
            if not Path(self.run).is_dir():
                return {"run": f"the folder {self.run} is gone"}
            if not Path(self.run, "adapter.bin").is_file():
                return {"run": f"{self.run} has no adapter.bin"}
            return {}
        problems = {}
        # The feature Whisper is LTU-AS's alone; which model the adapter is, only its file says (the model dialog
        # and the profile check that).
        for name, required, folder in (("llm", True, True), ("adapter", True, False),
                                       ("feature_whisper", False, False), ("asr_whisper", False, False)):
            value = getattr(self, name)
            if not value:
                if required:
                    problems[name] = "not chosen"
            elif not Path(value).exists():
                problems[name] = f"{value} does not exist"
            elif folder != Path(value).is_dir():
                problems[name] = f"{value} is {'a file, not a folder' if folder else 'a folder, not a file'}"
        return problems

    @classmethod
    def from_dict(cls, data: object) -> ModelChoice:
        if not isinstance(data, dict):
            return cls()
        known = {f.name for f in fields(cls)}
        choice = cls(**{k: str(v) for k, v in data.items() if k in known and v is not None})
        return choice if choice.kind in ("demo", "files", "run") else cls()


@dataclass
class Settings:
    model: ModelChoice = field(default_factory=ModelChoice)
    device: str = "auto"
    precision: str = "auto"
    transcripts: str = "auto"  # which Whisper backend makes the transcripts
    theme: str = "system"
    input_device: str = ""
    last_folder: str = ""
    geometry: str = ""
    window_state: str = ""
    splitters: dict[str, str] = field(default_factory=dict)
    generation: dict[str, float] = field(default_factory=dict)
    mark_hearing_answers: bool = False  # "not in the transcript" marks also for models that hear the audio
    runs: list[str] = field(default_factory=list)  # fine-tuning run folders the app made or was shown
    recent_models: list[ModelChoice] = field(default_factory=list)  # own files and runs that loaded, newest first

    def remember_model(self, choice: ModelChoice) -> None:
        """Own files and runs that loaded stay offered to Ask both after another model is chosen."""
        if choice.kind in ("files", "run"):
            self.recent_models = [choice, *[c for c in self.recent_models if c != choice]][:RECENT_MODELS]

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> Settings:
        s = cls()
        s.model = ModelChoice.from_dict(data.get("model"))
        for name, allowed in (("device", DEVICES), ("precision", PRECISIONS), ("transcripts", TRANSCRIPTS),
                              ("theme", THEMES)):
            value = data.get(name)
            if value in allowed:
                setattr(s, name, value)
        for name in ("input_device", "last_folder", "geometry", "window_state"):
            if isinstance(data.get(name), str):
                setattr(s, name, data[name])
        if isinstance(data.get("mark_hearing_answers"), bool):
            s.mark_hearing_answers = data["mark_hearing_answers"]
        if isinstance(data.get("runs"), list):
            s.runs = [r for r in data["runs"] if isinstance(r, str)]
        if isinstance(data.get("recent_models"), list):
            s.recent_models = [c for c in map(ModelChoice.from_dict, data["recent_models"][:RECENT_MODELS])
                               if c.kind in ("files", "run")]
        if isinstance(data.get("splitters"), dict):
            s.splitters = {str(k): v for k, v in data["splitters"].items() if isinstance(v, str)}
        if isinstance(data.get("generation"), dict):
            s.generation = {
                str(k): v
                for k, v in data["generation"].items()
                if isinstance(v, (int, float)) and not isinstance(v, bool)
            }
        return s


def settings_path() -> Path:
    return config_dir() / FILE_NAME


def load_settings() -> Settings:
    try:
        data = json.loads(settings_path().read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return Settings()
    return Settings.from_dict(data) if isinstance(data, dict) else Settings()


def save_settings(settings: Settings) -> None:
    """Write atomically (temp file + rename) so a crash mid-write keeps the old settings."""
    folder = config_dir()
    folder.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".settings-", suffix=".json", dir=folder)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(settings.to_dict(), f, indent=2, sort_keys=True)
        os.replace(tmp, folder / FILE_NAME)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
