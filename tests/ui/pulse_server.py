"""A private PulseAudio daemon with a null sink whose monitor is the default microphone.

Sound played into the sink with `paplay` comes back out of the monitor source, so the
recorder reads a real audio device through PortAudio -> ALSA -> PulseAudio, with no sound card.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest

SINK = "virt"
TOOLS = ("pulseaudio", "pactl", "pacat", "paplay")


def missing_tools() -> list[str]:
    return [t for t in TOOLS if shutil.which(t) is None]


class PulseServer:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.env = {
            "XDG_RUNTIME_DIR": str(root),
            "PULSE_RUNTIME_PATH": str(root / "pulse"),
            "PULSE_STATE_PATH": str(root / "state"),
            "HOME": str(root),
        }
        self._saved: dict[str, str | None] = {}
        self._silence: subprocess.Popen | None = None

    def _run(self, *cmd: str, check: bool = True) -> subprocess.CompletedProcess:
        env = {**os.environ, **self.env}
        return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=20, check=check)

    def start(self) -> PulseServer:
        self.root.mkdir(parents=True, exist_ok=True)
        self._run(
            "pulseaudio", "-D", "-n", "--exit-idle-time=-1", "--system=false", "--disallow-exit",
            "--disable-shm=true", "-L", "module-native-protocol-unix", "-L", f"module-null-sink sink_name={SINK}",
            f"--log-target=file:{self.root / 'pulse.log'}",
        )
        deadline = time.monotonic() + 10
        while self._run("pactl", "info", check=False).returncode != 0:
            if time.monotonic() > deadline:
                raise RuntimeError("pulseaudio did not start: " + (self.root / "pulse.log").read_text()[-2000:])
            time.sleep(0.05)
        self._run("pactl", "set-default-sink", SINK)
        self._run("pactl", "set-default-source", f"{SINK}.monitor")
        self._silence = subprocess.Popen(
            ["pacat", "--playback", "-d", SINK, "--latency-msec=30", "/dev/zero"], env={**os.environ, **self.env},
        )
        self._wait_for_low_latency()
        for key, value in self.env.items():
            self._saved[key] = os.environ.get(key)
            os.environ[key] = value
        from ltu_desktop.audio.recorder import refresh_devices

        refresh_devices()
        return self

    def _wait_for_low_latency(self) -> None:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            out = self._run("pactl", "list", "sinks", check=False).stdout
            m = re.search(r"Latency: (\d+) usec", out)
            if m and int(m.group(1)) < 50_000 and "RUNNING" in out:
                return
            time.sleep(0.1)

    def play(self, wav: Path) -> subprocess.Popen:
        return subprocess.Popen(["paplay", "-d", SINK, str(wav)], env={**os.environ, **self.env})

    def stop(self) -> None:
        if self._silence is not None:
            self._silence.terminate()
            self._silence.wait(5)
        self._run("pulseaudio", "--kill", check=False)
        for key, value in self._saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        from ltu_desktop.audio.recorder import refresh_devices

        refresh_devices()


def speech_file(folder: Path, text: str = "the quick brown fox jumps over the lazy dog") -> Path:
    """Speech from espeak-ng when it is there, else a chirp with pauses (also unlike any noise)."""
    path = folder / "speech.wav"
    if shutil.which("espeak-ng"):
        subprocess.run(["espeak-ng", "-w", str(path), text], check=True, capture_output=True, timeout=30)
        return path
    import soundfile as sf

    rate = 22_050
    t = np.arange(int(2.5 * rate)) / rate
    chirp = 0.4 * np.sin(2 * np.pi * (200 + 600 * t) * t) * (np.sin(2 * np.pi * 2 * t) > 0)
    sf.write(str(path), chirp.astype(np.float32), rate)
    return path


def best_correlation(recorded: np.ndarray, played: np.ndarray) -> float:
    """Highest normalised correlation of `played` with any stretch of `recorded` (both 16 kHz)."""
    n = len(recorded) + len(played)
    size = 1 << (n - 1).bit_length()
    xc = np.fft.irfft(np.fft.rfft(recorded, size) * np.conj(np.fft.rfft(played, size)), size)[: len(recorded)]
    lag = int(np.argmax(np.abs(xc[: max(1, len(recorded) - len(played) + 1)])))
    piece = recorded[lag : lag + len(played)]
    if len(piece) < len(played) or piece.std() == 0:
        return 0.0
    return float(abs(np.corrcoef(piece, played)[0, 1]))


@pytest.fixture(scope="module")
def pulse(tmp_path_factory):
    missing = missing_tools()
    if missing:
        tools = ", ".join(missing)
        pytest.skip(f"PulseAudio is not installed ({tools} missing): apt install pulseaudio pulseaudio-utils")
    server = PulseServer(tmp_path_factory.mktemp("pulse")).start()
    from ltu_desktop.audio.recorder import input_devices

    if not input_devices():
        server.stop()
        pytest.skip("PortAudio sees no PulseAudio device: ALSA's pulse plugin is missing "
                    "(apt install libasound2-plugins)")
    yield server
    server.stop()
