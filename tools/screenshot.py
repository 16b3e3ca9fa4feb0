"""Take the README screenshot: a real window under a private Xvfb, a spoken sample clip, one answered question.

    python tools/screenshot.py docs/screenshot.png
    python tools/screenshot.py out.png --clip my.wav --question "What is the speaker's emotion?"

Without --clip it shows the sample clip in resources/. Answers are greedy (--temperature 0) so
the picture is reproducible. Any other option is passed to the app (for example --theme dark,
--size 1440x900, --window-start 5, or --llm/--adapter/... for your own model).
Needs Debian's xvfb; with DISPLAY unset and no Xvfb it
falls back to Qt's offscreen platform, which renders the same widgets without a window system.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
from pathlib import Path

SAMPLE_CLIP = Path(__file__).resolve().parent.parent / "resources" / "sample_meeting.wav"
DEFAULT_QUESTION = "When is the meeting, and where?"


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
    p.add_argument("--clip", default=str(SAMPLE_CLIP), help="audio file to show (default: the sample clip)")
    p.add_argument("--question", default=DEFAULT_QUESTION)
    args, app_args = p.parse_known_args()
    clip = Path(args.clip)
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
