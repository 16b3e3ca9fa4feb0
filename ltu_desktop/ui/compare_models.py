"""The models "Ask both" can set beside the loaded one: those whose files are on this computer.

No Qt and no engine here: the list is plain data the chat's chooser shows; the engine worker turns the
chosen one into an engine Profile on its own thread (where torch is imported).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..settings import ModelChoice
from .workers import profile_for

if TYPE_CHECKING:  # the engine (and torch) is imported on the worker thread only
    from ..engine.types import Profile

DEMO_OPTION = "Demo (reads the transcript only)"


@dataclass(frozen=True)
class ModelOption:
    """One model to compare with: the demo or own files (a ModelChoice), a downloaded catalog profile (its name
    and its LLM and adapter paths), or a ready engine Profile (tests)."""

    label: str
    choice: ModelChoice | None = None
    profile: Profile | None = None
    catalog: str = ""
    paths: tuple[str, str] = ("", "")

    @property
    def key(self) -> str:
        return _files_key(*self.paths) if self.catalog else model_key(self.choice, self.profile)

    @property
    def reads_only(self) -> bool:
        """A model that answers from the transcript alone (the demo): it hears no window."""
        return self.key == "demo"

    def resolve(self, progress) -> Profile:
        """The engine Profile, on the worker thread: files are checked and the adapter says its family here."""
        if self.profile is not None:
            return self.profile
        if self.catalog:
            from ..models.catalog import profile_by_name

            return profile_by_name(self.catalog)
        return profile_for(self.choice or ModelChoice(), progress)


def _files_key(llm, adapter) -> str:
    return f"{os.path.realpath(llm) if llm else ''}|{os.path.realpath(adapter) if adapter else ''}"


def model_key(choice: ModelChoice | None = None, profile: Profile | None = None) -> str:
    """The same files give the same key, whichever way they were chosen (so the loaded model is not offered)."""
    if profile is not None:
        return "demo" if profile.kind == "demo" else _files_key(profile.llm, profile.adapter)
    if choice is None or choice.kind == "demo":
        return "demo"
    if choice.kind == "run":
        return f"run|{os.path.realpath(choice.run)}"
    return _files_key(choice.llm, choice.adapter)


def usable_models(own: list[ModelChoice] = ()) -> list[ModelOption]:
    """The demo, the person's own files and fine-tuning runs (those still all there) and every catalog profile that
    is downloaded."""
    from ..models.catalog import CatalogError, Models

    options = [ModelOption(DEMO_OPTION, ModelChoice())]
    options += [ModelOption(c.label()[:1].upper() + c.label()[1:], c) for c in own
                if c.kind in ("files", "run") and not c.missing()]
    try:
        models = Models()
        for name, spec in models.catalog.profiles.items():
            if not spec.builtin and not models.missing(name):
                paths = (str(models.path_of(spec.llm)), str(models.path_of(spec.adapter)))
                options.append(ModelOption(spec.label, catalog=name, paths=paths))
    except (CatalogError, OSError):
        pass  # a damaged catalog or models folder leaves the demo and the person's own files
    unique = {o.key: o for o in reversed(options)}
    return [o for o in options if unique[o.key] is o]
