"""The LTU-AS authors' own inference pipeline, timed stage by stage: the reference beside `ltu-desktop bench`.

Runs inside the venv that scripts/authors_venv.sh builds (their transformers 4.28-dev, peft 0.3-dev and
openai-whisper forks) and never imports ltu_desktop. It loads the files the way their inference_gradio.py /
inference_batch.py do (their LlamaForCausalLM with the audio modules inside, get_peft_model with their LoRA
config, the adapter through load_state_dict(strict=False), their Whisper fork's transcribe_audio for the
features, their alpaca_short template and sampling settings) on the CPU in fp32, asks each question as their
demo's predict() does (features of the first 10 s, then generate) and prints one JSON object.

Two things differ from their demo, both for the measurement only: the transcript is given (the bench's fixed
text, as a cached transcript is in their demo), and the features get a batch dimension on the CPU too (as
inference_batch.py does; their demo adds it only on a GPU, so its CPU path stops in ATModel).
A stopping criterion that never stops records when each token arrives.

    python tools/authors_pipeline.py --llm DIR --adapter FILE --whisper FILE --audio CLIP.npy \
        --transcript TEXT --question Q1 --question Q2 [--max-new-tokens 32] [--seed 0]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import sys
import time
from pathlib import Path

import numpy as np
import torch


def load(llm: str, adapter: str, whisper_path: str):
    """Their loading order and calls, CPU branch (no torch_dtype: fp32)."""
    import peft
    from transformers import LlamaForCausalLM, LlamaTokenizer
    from whisper.model import ModelDimensions, Whisper

    checkpoint = torch.load(whisper_path, map_location="cpu")
    whisper = Whisper(ModelDimensions(**checkpoint["dims"]))
    whisper.load_state_dict(checkpoint["model_state_dict"], strict=False)
    del checkpoint
    tokenizer = LlamaTokenizer.from_pretrained(llm)
    model = LlamaForCausalLM.from_pretrained(llm, device_map="auto")
    config = peft.LoraConfig(r=8, lora_alpha=16, target_modules=["q_proj", "v_proj"], lora_dropout=0.05,
                             bias="none", task_type="CAUSAL_LM")
    model = peft.get_peft_model(model, config)
    state_dict = torch.load(adapter, map_location="cpu")
    _, unexpected = model.load_state_dict(state_dict, strict=False)
    del state_dict
    model.config.pad_token_id = tokenizer.pad_token_id = 0
    model.config.bos_token_id = 1
    model.config.eos_token_id = 2
    return whisper.eval(), tokenizer, model.eval(), list(unexpected)


def features(whisper, samples: np.ndarray) -> torch.Tensor:
    """Their load_audio_trans() less the transcript: all encoder states, pooled by 20, the input state dropped."""
    import skimage.measure

    _, audio_feat = whisper.transcribe_audio(samples)
    audio_feat = torch.permute(audio_feat[0], (2, 0, 1)).detach().cpu().numpy()
    audio_feat = skimage.measure.block_reduce(audio_feat, (1, 20, 1), np.mean)[1:]
    return torch.FloatTensor(audio_feat).unsqueeze(0)


class Clock:
    """A stopping criterion that never stops: the time each new token was appended."""

    def __init__(self):
        self.times: list[float] = []

    def __call__(self, input_ids, scores, **kwargs) -> bool:
        self.times.append(time.perf_counter())
        return False


def ask(whisper, tokenizer, model, prompter, samples, question, transcript, max_new_tokens, seed) -> dict:
    from transformers import GenerationConfig, StoppingCriteriaList

    t0 = time.perf_counter()
    with torch.no_grad():
        audio_input = features(whisper, samples)
    t_feat = time.perf_counter()
    prompt = prompter.generate_prompt(question, transcript)
    input_ids = tokenizer(prompt, return_tensors="pt")["input_ids"]
    config = GenerationConfig(do_sample=True, temperature=0.1, top_p=0.95, top_k=500, repetition_penalty=1.1,
                              max_new_tokens=max_new_tokens, bos_token_id=model.config.bos_token_id,
                              eos_token_id=model.config.eos_token_id, pad_token_id=model.config.pad_token_id,
                              num_return_sequences=1)
    clock = Clock()
    torch.manual_seed(seed)
    t_gen = time.perf_counter()
    with torch.no_grad():
        out = model.generate(input_ids=input_ids, audio_input=audio_input, generation_config=config,
                             return_dict_in_generate=True, output_scores=True, max_new_tokens=max_new_tokens,
                             stopping_criteria=StoppingCriteriaList([clock]))
    output = tokenizer.decode(out.sequences[0])[5:-4]
    answer = output.partition("### Response:\n")[-1].strip()
    t_end = time.perf_counter()
    new = out.sequences[0, input_ids.shape[1]:].tolist()
    n = len(new)
    decode_s = clock.times[-1] - clock.times[0] if len(clock.times) > 1 else 0.0
    return {"question": question, "answer": answer, "prompt_tokens": int(input_ids.shape[1] + audio_input.shape[2]),
            "features_s": round(t_feat - t0, 4),
            "first_token_s": round(clock.times[0] - t_gen, 4) if clock.times else None,
            "new_tokens": n, "tokens_per_s": round((n - 1) / decode_s, 3) if decode_s > 0 else 0.0,
            "generate_s": round(t_end - t_gen, 4), "total_s": round(t_end - t0, 4),
            "token_ids": [t for t in new if t not in (model.config.eos_token_id, model.config.pad_token_id)]}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--llm", required=True, help="base LLaMA folder (vicuna_ltuas layout)")
    p.add_argument("--adapter", required=True, help="LTU-AS adapter .bin (peft 0.3 key names)")
    p.add_argument("--whisper", required=True, help="openai-whisper checkpoint of large-v1's shapes")
    p.add_argument("--audio", required=True, help="16 kHz mono float32 samples (.npy)")
    p.add_argument("--transcript", default="", help="the prompt's Input (empty: audio only)")
    p.add_argument("--question", action="append", required=True)
    p.add_argument("--max-new-tokens", type=int, default=32)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)

    import transformers
    import utils.prompter

    here = os.getcwd()
    os.chdir(Path(utils.prompter.__file__).resolve().parents[1])  # their Prompter reads ./templates
    prompter = utils.prompter.Prompter("alpaca_short")
    os.chdir(here)
    samples = np.load(args.audio).astype(np.float32)
    t0 = time.perf_counter()
    whisper, tokenizer, model, unexpected = load(args.llm, args.adapter, args.whisper)
    load_s = time.perf_counter() - t0
    asked = [ask(whisper, tokenizer, model, prompter, samples, q, args.transcript or None, args.max_new_tokens,
                 args.seed) for q in args.question]
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**10
    result = {"pipeline": "the authors' (their transformers, peft and whisper forks), cpu fp32",
              "python": platform.python_version(), "torch": torch.__version__,
              "transformers": transformers.__version__, "threads": torch.get_num_threads(),
              "load_s": round(load_s, 3), "unexpected_adapter_keys": len(unexpected),
              "features_s": asked[0]["features_s"], "questions": asked, "peak_rss_mb": round(peak, 1)}
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
