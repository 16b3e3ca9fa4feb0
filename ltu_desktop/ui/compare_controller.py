"""Ask both, as part of the Controller: the loaded model and another one answer one question side by side.

A mixin, so the Controller keeps one face to the views and tests (`controller.ask_both`, `set_compare_options`);
it uses the Controller's model, current clip, chat, messages, history, engine worker and its exchange helpers
(_new_exchange, _save_question, _exchange).
"""

from __future__ import annotations

import uuid

from .compare_models import ModelOption, model_key
from .session import Exchange
from .workers import AskRequest, CompareRequest


class Comparing:
    def _init_compare(self) -> None:
        self.compare_options: list[ModelOption] = []  # what "Ask both" may set beside the loaded model
        self._compares: dict[str, list[Exchange]] = {}  # the sides of each comparison until all have ended

    def set_compare_options(self, options: list[ModelOption]) -> None:
        self.compare_options = list(options)
        self._offer_compare()

    def compare_choices(self) -> list[ModelOption]:
        """The options without the loaded model itself."""
        if self.model is None:
            return []
        request = self.model.request or self._good
        loaded = model_key(request.choice, request.profile) if request is not None else ""
        return [o for o in self.compare_options if o.key != loaded]

    def _offer_compare(self) -> None:
        """Nothing before a model is loaded; with it alone, the way to add a second one."""
        self.chat.set_compare_models(None if self.model is None else [o.label for o in self.compare_choices()])

    def ask_both(self, question: str, index: int = 0) -> tuple[Exchange, Exchange] | None:
        """The loaded model and the chosen other one answer the same question about the same window, side by
        side; the worker shares one base between them or lets them take turns (engine.compare decides)."""
        choices = self.compare_choices()
        return self._ask_both(question, choices[index]) if 0 <= index < len(choices) else None

    def _ask_both(self, question: str, other: ModelOption, regenerated: bool = False
                  ) -> tuple[Exchange, Exchange] | None:
        clip = self.current
        question = question.strip()
        if clip is None or not question or self.model is None:
            return None
        if clip.ask_problem():
            self.messages.show_message(clip.ask_problem(), "info")
            return None
        group = uuid.uuid4().hex[:12]
        sides = []
        for i, label in enumerate((self.model.label, other.label)):
            e, request = self._new_exchange(clip, question, regenerated)
            e.model, e.compare_group, request.side = label, group, i
            e.settings["compare_with"] = other.key  # what Regenerate asks again, also after a restart
            if i:
                e.settings.pop("mode", None)
                if other.reads_only:
                    e.settings["mode"], e.window = "transcript", None
                e.progress = f"Answers after {self.model.label.split(':')[0].strip()}."
                request.stop = sides[0][1].stop  # one Stop for both
                run = (other.label, self.model.device, self.model.precision)
            else:
                run = None
            self._save_question(clip, e, run)
            sides.append((e, request))
        self._compares[group] = [e for e, _ in sides]
        self.chat.add_comparison(clip.id, self._compares[group])
        self.engine.worker.submit(CompareRequest(tuple(r for _, r in sides), other))
        return sides[0][0], sides[1][0]

    def regenerate_pair(self, old: Exchange) -> None:
        """A comparison is asked again as a pair (the loaded model and the same other one), so its answers stay
        side by side under the same question, window and settings; one side alone would sit beside an answer
        made another time, perhaps with other settings."""
        key = old.settings.get("compare_with")
        other = next((o for o in self.compare_choices() if o.key == key), None)
        if other is None:
            second = [x for x in self.current.exchanges if x.compare_group == old.compare_group][-1]
            self.messages.show_message(
                f"{second.model.split(':')[0].strip() or 'The other model'} cannot answer again beside the loaded "
                "model (it is the loaded one now, or its files are gone): choose a model under the question box and "
                "press Ask both.", "info")
            return
        self._ask_both(old.question, other, regenerated=True)

    def _compared(self, request: CompareRequest, how: str) -> None:
        """How the two shared the memory, shown over both answers and saved with them (the first has ended)."""
        second = self._exchange(request.sides[1])
        for e in self._compares.get(second.compare_group, []) if second is not None else []:
            e.settings["compare"] = how
            if not e.pending:
                self.history.finish(e)
            self.chat.refresh(e)

    def _compare_progress(self, request: AskRequest, stage: str) -> None:
        e = self._exchange(request)
        if e is not None and not e.answer:
            e.progress = f"Loading this model: {stage}"
            self.chat.refresh(e)
