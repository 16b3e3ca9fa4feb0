"""`batch --ray` on a real two-node Ray cluster on this machine, started and stopped here. (A killed driver
resumes through the same `run_items` as a local run, which tests/batch covers.)

Ray 2.60 turns a node address of exactly 127.0.0.1 into the machine's network address unless clusters are
switched off, so the nodes use the loopback addresses 127.0.0.2 and 127.0.0.3: all cluster traffic stays on
the loopback interface.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from ltu_desktop.cli import main

pytestmark = [pytest.mark.ray, pytest.mark.skipif(importlib.util.find_spec("ray") is None,
                                                  reason="Ray is not installed (pip install 'ltu-desktop[cluster]')")]
REPO = Path(__file__).resolve().parents[2]


def _env(home: Path) -> dict[str, str]:
    """A private home, so no token or setting from the person's ~/.ray reaches this cluster."""
    return {**os.environ, "HOME": str(home), "RAY_USAGE_STATS_ENABLED": "0", "RAY_AUTH_MODE": "disabled"}


def _ray_bin() -> str:
    """The `ray` command of this Python's environment."""
    local = Path(sys.executable).parent / "ray"
    return str(local) if local.exists() else shutil.which("ray") or "ray"


def _wait_for(path: Path, text: str, proc: subprocess.Popen, timeout: float = 90) -> None:
    end = time.time() + timeout
    while time.time() < end:
        if path.exists() and text in path.read_text(errors="replace"):
            return
        if proc.poll() is not None:
            raise RuntimeError(f"ray start exited: {path.read_text(errors='replace')[-2000:]}")
        time.sleep(0.3)
    raise TimeoutError(f"ray start did not finish: {path.read_text(errors='replace')[-2000:]}")


@pytest.fixture(scope="module")
def cluster():
    """A head and a second node, one CPU each; every process they start is in their own process groups,
    which are ended on the way out even when a test fails."""
    temp = Path(tempfile.mkdtemp(prefix="ltur", dir="/tmp"))  # short: Ray's socket paths have a length limit
    with socket.socket() as s:
        s.bind(("127.0.0.2", 0))
        port = s.getsockname()[1]
    address = f"127.0.0.2:{port}"
    env = _env(temp)
    procs: list[subprocess.Popen] = []
    try:
        for name, args in (("head", ["--head", "--node-ip-address=127.0.0.2", f"--port={port}",
                                     "--include-dashboard=false", f"--temp-dir={temp}"]),
                           ("node", [f"--address={address}", "--node-ip-address=127.0.0.3"])):
            log = temp / f"{name}.log"
            procs.append(subprocess.Popen([_ray_bin(), "start", "--block", "--num-cpus=1", "--disable-usage-stats",
                                           *args], stdout=log.open("w"), stderr=subprocess.STDOUT, env=env,
                                          start_new_session=True))
            _wait_for(log, "Ray runtime started", procs[-1])
        yield address, env
    finally:
        for p in procs:
            p.send_signal(signal.SIGTERM)
        for p in procs:
            try:
                p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                pass
        for p in procs:
            try:
                os.killpg(p.pid, signal.SIGKILL)  # whatever is left of this node's process group
            except ProcessLookupError:
                pass
            p.wait()
        shutil.rmtree(temp, ignore_errors=True)


def _worker_pids() -> list[int]:
    """This machine's engine actors, by the process title Ray gives them."""
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if (entry / "cmdline").read_bytes().startswith(b"ray::EngineWorker"):
                    pids.append(int(entry.name))
            except OSError:
                pass
    return pids


def _finished(path: Path) -> int:
    try:
        return sum("pred" in r for r in json.loads(path.read_text()))
    except (OSError, ValueError):
        return 0


def test_ray_batch_equals_one_process_and_a_killed_worker_loses_no_item(cluster, tiny_profile, tmp_path):
    address, env = cluster
    rng = np.random.default_rng(5)
    for name in ("a.wav", "b.wav"):
        sf.write(str(tmp_path / name), (rng.standard_normal(16000 * 3) * 0.1).astype(np.float32), 16000)
    items = [{"audio_id": "ab"[i % 2] + ".wav", "instruction": f"Question {i}?", "input": "x"} for i in range(8)]
    (tmp_path / "items.json").write_text(json.dumps(items))
    model = ["--llm", str(tiny_profile.llm), "--adapter", str(tiny_profile.adapter), "--whisper",
             str(tiny_profile.feature_whisper), "--asr-whisper", str(tiny_profile.asr_whisper), "--device", "cpu",
             "--temperature", "0", "--max-new-tokens", "16"]
    assert main(["batch", "--input", str(tmp_path / "items.json"), "--output", str(tmp_path / "local.json"),
                 "--quiet"] + model) == 0
    reference = json.loads((tmp_path / "local.json").read_text())

    out = tmp_path / "ray.json"
    command = [sys.executable, "-c", "import sys; from ltu_desktop.cli import main; sys.exit(main())", "batch",
               "--input", str(tmp_path / "items.json"), "--output", str(out), "--ray", address,
               "--cpus-per-worker", "1", "--quiet"] + model
    driver = subprocess.Popen(command, cwd=REPO, env=env, stderr=subprocess.PIPE, text=True)
    killed = None
    try:
        end = time.time() + 300
        while driver.poll() is None and time.time() < end:
            if killed is None and 1 <= _finished(out) < len(items) and _worker_pids():
                killed = _worker_pids()[0]
                os.kill(killed, signal.SIGKILL)  # Ray restarts the actor and runs its item again
            time.sleep(0.1)
    finally:
        if driver.poll() is None:
            driver.kill()
        _, stderr = driver.communicate()
    assert driver.returncode == 0 and killed is not None, stderr[-3000:]
    rows = json.loads(out.read_text())
    assert [r["audio_id"] for r in rows] == [i["audio_id"] for i in items]
    assert [r["pred_ids"] for r in rows] == [r["pred_ids"] for r in reference]
    assert [r["pred"] for r in rows] == [r["pred"] for r in reference] and not any("error" in r for r in rows)
