"""Which int8 on the CPU: decode speed and greedy agreement with fp32 of each backend, on the demo LLM.

    python tools/int8_backends.py [--out int8-backends.json]

Backends: fp32, bf16, the engine's weight-only int8 (model.Int8Linear), torch's dynamic int8
(weights and activations rounded to 8 bits), and bitsandbytes' CPU LLM.int8. Every backend answers
the same prompts greedily with the same number of tokens through `generate`, in one process, so the
ratios hold on a noisy machine. Needs the demo profile's files (any `ltu-desktop ask` prepares them).
"""

from __future__ import annotations

import argparse
import json
import logging
import time
import warnings
from pathlib import Path

import torch
from torch import nn

PROMPTS = (
    "Hello team, this is Maria. The budget meeting moves to Thursday at three thirty in room twelve on the "
    "fourth floor. Please bring your reports. Question: When is the meeting?",
    "The weather today is sunny with a high of twenty degrees. Tomorrow rain is expected. "
    "Question: What is the weather tomorrow?",
    "Our travel costs must be cut by eight percent this quarter. Question: By how much must costs be cut?",
)


def answers(model, tokenizer, n: int) -> tuple[list[list[int]], float]:
    out, seconds = [], 0.0
    for prompt in PROMPTS:
        ids = tokenizer.apply_chat_template([{"role": "user", "content": prompt}], add_generation_prompt=True,
                                            return_tensors="pt")
        ids = ids if torch.is_tensor(ids) else ids["input_ids"]
        t0 = time.perf_counter()
        generated = model.generate(ids, max_new_tokens=n, min_new_tokens=n, do_sample=False)
        seconds += time.perf_counter() - t0
        out.append(generated[0, ids.shape[1]:].tolist())
    return out, n * len(PROMPTS) / seconds


def main() -> None:
    from transformers import AutoModelForCausalLM, AutoTokenizer, BitsAndBytesConfig
    from transformers.utils import logging as hf_logging

    from ltu_desktop.models.demo_assets import ensure_llm
    from ltu_desktop.engine.llm import quantize_int8_cpu

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--tokens", type=int, default=40)
    p.add_argument("--out", type=Path, default=Path("int8-backends.json"))
    args = p.parse_args()
    warnings.filterwarnings("ignore")
    logging.getLogger("bitsandbytes").setLevel(logging.ERROR)  # one line per matmul otherwise
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    folder = ensure_llm()
    tokenizer = AutoTokenizer.from_pretrained(folder)

    def load(dtype, **kw):
        return AutoModelForCausalLM.from_pretrained(folder, dtype=dtype, **kw).eval()

    def dynamic_int8():
        from torch.ao.quantization import per_channel_dynamic_qconfig, quantize_dynamic

        return quantize_dynamic(load(torch.float32), {nn.Linear: per_channel_dynamic_qconfig}, dtype=torch.qint8)

    backends = {
        "fp32": lambda: load(torch.float32),
        "bf16": lambda: load(torch.bfloat16),
        "int8 weight-only (engine)": lambda: quantize_int8_cpu(load(torch.bfloat16)),
        "int8 torch dynamic": dynamic_int8,
        "int8 bitsandbytes CPU": lambda: load(torch.float32, device_map={"": "cpu"},
                                              quantization_config=BitsAndBytesConfig(load_in_8bit=True)),
    }
    rows, reference = [], None
    for name, build in backends.items():
        ids, speed = answers(build(), tokenizer, args.tokens)
        reference = reference or ids
        same = sum(a == b for r, o in zip(reference, ids) for a, b in zip(r, o))
        rows.append({"backend": name, "tokens_per_s": round(speed, 1),
                     "agreement_with_fp32": round(same / sum(map(len, reference)), 2)})
        print(f"{name:28s} {speed:6.1f} tok/s   agreement with fp32 {rows[-1]['agreement_with_fp32']:.2f}", flush=True)
    args.out.write_text(json.dumps({"date": time.strftime("%Y-%m-%d"), "torch": torch.__version__,
                                    "threads": torch.get_num_threads(), "rows": rows}, indent=1))


if __name__ == "__main__":
    main()
