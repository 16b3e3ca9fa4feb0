"""Take the README screenshot: a real window under a private Xvfb, a spoken sample clip, one answered question.

    python tools/screenshot.py docs/screenshot.png
    python tools/screenshot.py out.png --clip my.wav --question "What is the speaker's emotion?"

Without --clip it speaks a sample message with espeak-ng. Answers are greedy (--temperature 0) so
the picture is reproducible. Any other option is passed to the app (for example --theme dark,
--size 1440x900, --window-start 5, or --llm/--adapter/... for your own model).
Needs Debian's xvfb (and espeak-ng for the sample clip); with DISPLAY unset and no Xvfb it
falls back to Qt's offscreen platform, which renders the same widgets without a window system.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

SAMPLE_TEXT = (
    "Hi, it's Anna from the design team. Our weekly meeting moved to Monday at ten, in the blue room "
    "on the second floor. Please bring the printed slides and the budget numbers. Thanks, see you there."
)
DEFAULT_QUESTION = "What is the speaker asking for, and when is the meeting?"


def sample_clip(folder: Path) -> Path:
    if shutil.which("espeak-ng") is None:
        sys.exit("espeak-ng is not installed (apt install espeak-ng); pass --clip FILE instead.")
    path = folder / "sample-message.wav"
    subprocess.run(["espeak-ng", "-s", "150", "-w", str(path), SAMPLE_TEXT], check=True, capture_output=True)
    return path


def start_xvfb() -> tuple[subprocess.Popen | None, str | None]:
    if shutil.which("Xvfb") is None:
        return None, None
    read, write = os.pipe()
    server = subprocess.Popen(
        ["Xvfb", "-displayfd", str(write), "-screen", "0", "1920x1200x24", "-nolisten", "tcp"],
        pass_fds=(write,), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    os.close(write)
    with os.fdopen(read) as f:
        number = f.readline().strip()
    return server, f":{number}"


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("out", help="PNG file to write")
    p.add_argument("--clip", help="audio file to show (default: a spoken sample made with espeak-ng)")
    p.add_argument("--question", default=DEFAULT_QUESTION)
    args, app_args = p.parse_known_args()
    with tempfile.TemporaryDirectory() as tmp:
        clip = Path(args.clip) if args.clip else sample_clip(Path(tmp))
        env = dict(os.environ)
        server, display = start_xvfb()
        if display:
            env["DISPLAY"] = display
            env.pop("WAYLAND_DISPLAY", None)
            env["QT_QPA_PLATFORM"] = "xcb"
        else:
            print("Xvfb not found: using Qt's offscreen platform", file=sys.stderr)
            env["QT_QPA_PLATFORM"] = "offscreen"
        try:
            cmd = [sys.executable, "-m", "ltu_desktop", "--screenshot", args.out, "--clip", str(clip),
                   "--question", args.question, "--temperature", "0", *app_args]
            return subprocess.run(cmd, env=env).returncode
        finally:
            if server is not None:
                server.terminate()
                server.wait(10)


if __name__ == "__main__":
    sys.exit(main())
