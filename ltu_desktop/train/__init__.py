"""Fine-tuning on a person's own clips: data checks and caches (data.py), the trainable model (model.py), the
Accelerate loop (loop.py) and the run folder in the released adapter layout (save.py)."""
