"""The demo profile's family: a small chat LLM that reads the Whisper transcript and hears nothing else."""

from __future__ import annotations

from .family import AudioLM, Family, Progress, common_prefix
from .llm import load_llm, quantize_int8_cpu
from .precision import Plan
from .prompt import demo_user_message
from .tokenizer import ChatTokenizer
from .types import Profile


class Demo(Family):
    kind = "demo"
    hears_audio = False
    # Greedy: sampling lets a 135M model drift into facts nobody said, and the same question must get the
    # same answer in the app and on the command line. No repetition penalty: it sees the prompt's ids, so it
    # pushes a transcript reader away from the very words it should quote ("When does the truck arrive?" got a
    # lecture on logical fallacies at 1.1, "at 9 AM tomorrow morning" at 1.0).
    defaults = {"temperature": 0.0, "repetition_penalty": 1.0}

    def load(self, profile: Profile, plan: Plan, notes: list[str], progress: Progress,
             base: AudioLM | None = None) -> tuple[AudioLM, object]:
        progress(f"Reading the LLM from {profile.llm.name}", 0.1)
        llm = load_llm(profile.llm, plan, notes, require_llama=False)
        return AudioLM(quantize_int8_cpu(llm) if plan.merge_lora else llm), ChatTokenizer(profile.llm)

    def prompt(self, tokenizer, question: str, text_input: str) -> tuple[list[int], list[int], str]:
        """The head is what the chat template puts before the question: the quoted transcript."""
        user = demo_user_message(question, text_input)
        ids = tokenizer.encode_chat(user)
        other = tokenizer.encode_chat(demo_user_message("\u2026", text_input))
        return ids, ids[:common_prefix(ids, other)], user
