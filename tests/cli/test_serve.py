"""`ltu-desktop serve` as a person starts and stops it."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import httpx

from ltu_desktop.cli import main


def test_serve_runs_until_ctrl_c_and_logs_requests(tiny_profile):
    args = ["--llm", str(tiny_profile.llm), "--adapter", str(tiny_profile.adapter), "--whisper",
            str(tiny_profile.feature_whisper), "--asr-whisper", str(tiny_profile.asr_whisper), "--device", "cpu"]
    proc = subprocess.Popen([sys.executable, "-m", "ltu_desktop", "serve", "--port", "0", *args],
                            cwd=Path(__file__).resolve().parents[2], stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        url, seen = None, []
        while url is None:
            line = proc.stderr.readline()
            assert line, "".join(seen)
            seen.append(line)
            found = re.search(r"at (http://127\.0\.0\.1:\d+)/v1", line)
            url = found and found.group(1)
        assert "'custom'" in seen[-1]
        models = httpx.get(f"{url}/v1/models", timeout=30).json()
        assert models["data"][0]["id"] == "custom"
        assert " 200 GET /v1/models " in proc.stderr.readline()
        proc.send_signal(signal.SIGINT)
        assert proc.wait(30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()


def test_serving_beyond_loopback_needs_a_key_before_any_model_loads(capsys):
    assert main(["serve", "--host", "0.0.0.0", "--profile", "tiny"]) == 1
    err = capsys.readouterr().err
    assert "--api-key" in err and "Model:" not in err
