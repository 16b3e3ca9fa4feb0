"""The engine: pure Python + torch, no Qt. `engine.py` is the entry point; `family.py` the contract each model
family's audio front end (`ltu_as.py`, `demo.py`) fulfils; the rest is the family-independent LLM half."""

import logging
import warnings

# bitsandbytes' CPU backend asks a model hub for an optional kernel and logs a warning when it cannot
# (no hub is ever reached here); its own fallback is what runs.
logging.getLogger("bitsandbytes.backends.cpu.ops").setLevel(logging.ERROR)
warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*", category=FutureWarning)
