"""`batch` and `eval` over a Ray cluster: one engine per GPU (or per group of CPU cores) in Ray actors.

Ray does the scheduling and the recovery: the actors are restarted when their process or node dies
(`max_restarts=-1`) and the item they were answering is run again (`max_task_retries=-1`, at-least-once);
the driver keeps the result rows by input index, so a retried item cannot appear twice and the file stays in
input order. The driver writes every finished row at once, so a killed driver resumes with `--resume`.
Every node must see the model files and the items' audio at the same paths (a shared or copied folder).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

from ..batch.runner import Answerer, new_cache, run_item
from ..engine.types import EngineError, GenerationSettings, Profile


def connect(address: str, quiet: bool = False) -> None:
    """`local` starts Ray on this machine; `auto` joins the cluster this machine is part of; else its address."""
    import ray

    if ray.is_initialized():
        return
    package = str(Path(__file__).resolve().parents[1])
    # The workers import this very copy of ltu_desktop, so driver and workers never run different code.
    options = dict(runtime_env={"py_modules": [package]}, log_to_driver=not quiet,
                   logging_level="WARNING" if quiet else "INFO")
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    try:
        if address == "local":
            ray.init(include_dashboard=False, **options)
        else:
            ray.init(address=address, **options)
    except (ConnectionError, RuntimeError, ValueError) as exc:
        raise EngineError(f"Cannot join the Ray cluster at {address!r}: {exc}") from exc


def _worker_class():
    import ray

    @ray.remote(max_restarts=-1, max_task_retries=-1)
    class EngineWorker:
        """One engine; it keeps its per-clip caches and loaded files across the items it is given."""

        def __init__(self, profile: Profile, device: str, precision: str, threads: int):
            import torch

            from ..engine.engine import Engine

            if threads > 0:
                torch.set_num_threads(threads)
            self.engine = Engine.load(profile, device=device, precision=precision)
            self.cache = new_cache()

        def answer(self, index: int, item: dict, base: str, settings: GenerationSettings, window_start: float,
                   features: str | None) -> tuple[int, dict]:
            return index, run_item(self.engine, item, Path(base), settings, window_start,
                                   Path(features) if features else None, self.cache)

    return EngineWorker


def plan_workers(device: str, cpus_per_worker: int, workers: int | None) -> tuple[int, dict]:
    """How many engines, and what each reserves: a whole GPU when the cluster has GPUs and the device is not
    the CPU, else `cpus_per_worker` cores."""
    import ray

    resources = ray.cluster_resources()
    gpus = int(resources.get("GPU", 0))
    if device != "cpu" and gpus > 0:
        return workers or gpus, {"num_gpus": 1, "num_cpus": 1}
    if device == "cuda":
        raise EngineError("--device cuda, but the Ray cluster has no GPU.")
    cpus = int(resources.get("CPU", 1))
    per = max(1, min(cpus_per_worker, cpus))
    return workers or max(1, cpus // per), {"num_cpus": per}


def ray_answer(address: str, profile: Profile, device: str, precision: str, base: Path,
               settings: GenerationSettings, window_start: float = 0.0, features: Path | None = None,
               cpus_per_worker: int = 4, workers: int | None = None, quiet: bool = False) -> Answerer:
    """An `answer` for `batch.run_items` that spreads the items over engines in Ray actors."""

    def answer(todo: list[tuple[int, dict]]) -> Iterator[tuple[int, dict]]:
        if not todo:
            return
        import ray
        from ray.util import ActorPool

        started = not ray.is_initialized()
        connect(address, quiet)
        n, reserve = plan_workers(device, cpus_per_worker, workers)
        n = min(n, len(todo))
        worker_device = "cpu" if "num_gpus" not in reserve else "cuda"
        threads = reserve["num_cpus"] if worker_device == "cpu" else 0
        if not quiet:
            print(f"Ray: {n} engine(s), each with {reserve}", file=sys.stderr)
        cls = _worker_class()
        actors = [cls.options(**reserve).remote(profile, worker_device, precision, threads) for _ in range(n)]
        pool = ActorPool(actors)
        shared = (str(base), settings, window_start, str(features) if features else None)
        try:
            yield from pool.map_unordered(lambda a, job: a.answer.remote(job[0], job[1], *shared), todo)
        except ray.exceptions.RayError as exc:
            raise EngineError(f"The Ray run failed: {exc}") from exc
        finally:
            for a in actors:
                ray.kill(a)
            if started:
                ray.shutdown()

    return answer
