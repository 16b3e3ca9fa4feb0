"""`ltu-desktop history list | show ID | export`: the saved conversations, without starting the GUI."""

from __future__ import annotations

import argparse
import sys
from datetime import datetime
from pathlib import Path

from ..store.database import HistoryError
from ..store.history import History
from ..store.records import Conversation


def add_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser("history", help="list, show and export the saved conversations",
                              description="The history is kept in LTU_DESKTOP_DATA (default: the user data folder).")
    sub = p.add_subparsers(dest="history_command", required=True, metavar="{list,show,export,dismiss}")
    sub.add_parser("list", help="clips with their conversations")
    sub.add_parser("dismiss", help="stop the note about a damaged history kept aside (the file stays)")
    s = sub.add_parser("show", help="print one conversation as Markdown")
    s.add_argument("id", type=int, help="conversation id (see `history list`)")
    e = sub.add_parser("export", help="write conversations to Markdown or JSON (JSON works as `batch --input`)")
    e.add_argument("--format", choices=["md", "json"], default=None, help="default: from the file's suffix")
    which = e.add_mutually_exclusive_group(required=True)
    which.add_argument("--conversation", type=int, nargs="+", action="extend", metavar="ID")
    which.add_argument("--all", action="store_true", help="every conversation")
    e.add_argument("-o", "--output", type=Path, required=True)
    p.set_defaults(func=run)
    return p


def _when(t: float) -> str:
    return datetime.fromtimestamp(t).strftime("%Y-%m-%d %H:%M")


def _summary(c: Conversation) -> str:
    first = c.title or (c.messages[0].question.splitlines()[0][:60] if c.messages and c.messages[0].question else "")
    return f"  conversation {c.id}  {len(c.messages)} message(s)  {_when(c.created_at)}  {first}"


def _list(history: History) -> None:
    clips = history.list_clips()
    if not clips:
        print(f"No history yet ({history.path}).")
        return
    for clip in clips:
        notes = " recorded" if clip.is_recording else ""
        notes += "" if clip.file_exists else "  (file missing)"
        print(f"clip {clip.id}  {clip.name}  {clip.duration:.1f} s  {clip.conversation_count} conversation(s)"
              f"{notes}\n  {clip.path}")
        for c in history.conversations(clip.id):
            print(_summary(c))


def run(args: argparse.Namespace) -> int:
    from ..store.export import export, format_for, to_markdown

    try:
        with History() as history:
            if history.notice and args.history_command != "dismiss":
                print(f"note: {history.notice}", file=sys.stderr)
            if args.history_command == "dismiss":
                kept = history.kept_aside()
                history.dismiss_notice()
                print(f"Dismissed; kept: {', '.join(str(k) for k in kept)}." if kept else "Nothing to dismiss.",
                      file=sys.stderr)
            elif args.history_command == "list":
                _list(history)
            elif args.history_command == "show":
                sys.stdout.write(to_markdown([history.conversation(args.id)]))
            else:
                ids = None if args.all else args.conversation
                n = export(history, args.output, args.format, ids)
                print(f"{n} message(s) written to {args.output} ({format_for(args.output, args.format)})",
                      file=sys.stderr)
        return 0
    except HistoryError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyError as exc:
        print(f"error: {exc.args[0]} (see `ltu-desktop history list`)", file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
