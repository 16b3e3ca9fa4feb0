"""Tokenizers with one small interface: prompt -> ids, ids -> text, and the ids that end an answer."""

from __future__ import annotations

from pathlib import Path

from .types import CheckpointError

LLAMA_PAD, LLAMA_BOS, LLAMA_EOS = 0, 1, 2


class SentencePieceTokenizer:
    """LLaMA's sentencepiece model used directly, as the authors' LlamaTokenizer did for plain text.

    The ids pad=0, bos=1, eos=2 are fixed, as the authors force them (the base config is wrong).
    """

    def __init__(self, model_file: Path):
        import sentencepiece as spm

        if not Path(model_file).is_file():
            raise CheckpointError(f"The LLM folder has no tokenizer.model: {model_file}")
        try:
            self.sp = spm.SentencePieceProcessor(model_file=str(model_file))
        except Exception as exc:
            raise CheckpointError(f"{model_file} is not a sentencepiece model: {exc}") from exc
        self.eos_ids = frozenset({LLAMA_EOS})
        self.vocab_size = self.sp.get_piece_size()

    def encode(self, text: str) -> list[int]:
        return [LLAMA_BOS] + self.sp.encode(text)

    def decode(self, ids: list[int]) -> str:
        return self.sp.decode([i for i in ids if LLAMA_EOS < i < self.vocab_size])


class ChatTokenizer:
    """A Hugging Face tokenizer with a chat template (the demo profile's SmolLM2)."""

    def __init__(self, folder: Path):
        from transformers import AutoTokenizer

        try:
            self.tok = AutoTokenizer.from_pretrained(str(folder))
        except Exception as exc:
            raise CheckpointError(f"No usable tokenizer in {folder}: {str(exc).splitlines()[0][:200]}") from exc
        if not self.tok.chat_template:
            raise CheckpointError(f"The tokenizer in {folder} has no chat template.")
        ends = {self.tok.eos_token_id, self.tok.convert_tokens_to_ids("<|im_end|>")}
        self.eos_ids = frozenset(i for i in ends if isinstance(i, int) and i >= 0)
        self.vocab_size = len(self.tok)

    def encode_chat(self, user: str) -> list[int]:
        text = self.tok.apply_chat_template([{"role": "user", "content": user}], tokenize=False,
                                            add_generation_prompt=True)
        return self.tok.encode(text, add_special_tokens=False)

    def decode(self, ids: list[int]) -> str:
        return self.tok.decode(ids, skip_special_tokens=True)


class TextStream:
    """Turns a growing list of ids into text pieces; holds back a piece that ends inside a UTF-8 character,
    and trailing whitespace until a word follows it, so the streamed text is the stripped answer."""

    def __init__(self, decode):
        self.decode = decode
        self.shown = ""

    def push(self, ids: list[int]) -> str:
        text = self.decode(ids).strip()
        if text.endswith("\ufffd") or not text.startswith(self.shown):
            return ""
        piece, self.shown = text[len(self.shown):], text
        return piece
