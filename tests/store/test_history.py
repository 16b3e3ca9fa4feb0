"""The history store as the GUI and the engine worker use it: saving as it happens, crashes, threads, long answers
streamed cheaply."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from ltu_desktop.store.history import History
from ltu_desktop.store.migrations import SCHEMA_VERSION

ROOT = Path(__file__).resolve().parents[2]
SETTINGS = {"temperature": 0.1, "top_p": 0.95, "top_k": 500, "repetition_penalty": 1.1, "max_new_tokens": 500,
            "seed": None, "mode": "joint"}
STATS = {"prepare_s": 0.5, "prompt_tokens": 80, "first_token_s": 0.42, "new_tokens": 12, "decode_s": 1.1,
         "peak_memory_mb": 0.0, "device": "cuda", "precision": "fp16", "reused_prefix_tokens": 0, "tokens_per_s": 10.0}


@pytest.fixture
def store(tmp_path):
    with History(tmp_path / "data") as h:
        yield h


def _wav(path: Path) -> Path:
    path.write_bytes(b"RIFF....WAVE")
    return path


def test_a_conversation_is_saved_as_it_happens(store, tmp_path):
    clip = store.add_clip(_wav(tmp_path / "rain.wav"), "h1", 12.5)
    assert store.add_clip(tmp_path / "rain.wav", "h1", 12.5) == clip  # same content: same clip
    conv = store.new_conversation(clip)
    mid = store.ask(conv, "What is the sound?", "it is raining", (2.0, 12.0), "demo", "auto", "auto", SETTINGS)
    m = store.message(mid)
    assert (m.status, m.answer, m.window, m.settings) == ("streaming", "", (2.0, 12.0), SETTINGS)
    store.update_partial(mid, "Rain")
    assert store.message(mid).answer == "Rain"
    store.finish(mid, "Rain on a roof.", "complete", STATS)
    store.update_partial(mid, "late partial from a stale signal")  # ignored once finished
    m = store.conversation(conv).messages[0]
    assert (m.answer, m.status, m.first_token_s, m.tokens_per_s, m.token_count) == (
        "Rain on a roof.", "complete", 0.42, 10.0, 12)
    assert (m.device, m.precision, m.profile, m.transcript_used) == ("cuda", "fp16", "demo", "it is raining")
    assert m.stats == STATS and m.updated_at >= m.created_at
    failed = store.ask(conv, "Again?", None, None, "demo", "cpu", "fp32", {})
    store.finish(failed, "", "failed", None, "out of memory")
    m = store.message(failed)
    assert (m.status, m.error, m.window, m.stats) == ("failed", "out of memory", None, {})
    with pytest.raises(ValueError):
        store.finish(failed, "", "streaming")


def test_clip_queries_and_deletes(store, tmp_path):
    a = store.add_clip(_wav(tmp_path / "a.wav"), "ha", 3.0)
    b = store.add_clip(_wav(tmp_path / "b.wav"), "hb", 4.0)
    c1, c2 = store.new_conversation(a), store.new_conversation(a, "dog or cat")
    store.new_conversation(b)
    (tmp_path / "b.wav").unlink()
    clips = {c.id: c for c in store.list_clips()}
    assert (clips[a].conversation_count, clips[a].file_exists) == (2, True)
    assert (clips[b].conversation_count, clips[b].file_exists) == (1, False)
    assert store.find_clip("hb").id == b and store.find_clip("nope") is None
    assert [c.id for c in store.conversations(a)] == [c1, c2] and store.conversation(c2).title == "dog or cat"
    store.ask(c1, "q", "", (0, 3), "demo", "cpu", "fp32", {})
    store.delete_conversation(c1)
    assert [c.id for c in store.conversations(a)] == [c2]
    with pytest.raises(KeyError):
        store.conversation(c1)
    store.edit_transcript(a, "first edit")
    store.delete_clip(a)
    assert [c.id for c in store.list_clips()] == [b] and (tmp_path / "a.wav").exists()  # not the store's file
    assert store.conversations() and all(c.clip_id == b for c in store.conversations())


def test_moved_file_updates_the_clip(store, tmp_path):
    clip = store.add_clip(_wav(tmp_path / "a.wav"), "ha", 3.0)
    (tmp_path / "a.wav").rename(tmp_path / "moved.wav")
    assert store.add_clip(tmp_path / "moved.wav", "ha", 3.0) == clip
    assert store.clip(clip).path == str((tmp_path / "moved.wav").resolve()) and store.clip(clip).file_exists


def test_recordings_are_owned_by_the_store(store, tmp_path):
    inside = _wav(store.new_recording_path())
    outside = _wav(tmp_path / "take.wav")
    a = store.add_clip(inside, "r1", 2.0, recording=True)
    b = store.add_clip(outside, "r2", 2.0, recording=True)
    moved = Path(store.clip(b).recording_path)
    assert not outside.exists() and moved.exists() and moved.parent == store.recordings_dir
    assert store.clip(a).recording_path == str(inside.resolve()) and store.clip(a).is_recording
    store.delete_clip(a)
    store.delete_clip(b)
    assert not inside.exists() and not moved.exists() and store.list_clips() == []


def test_folder_from_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("LTU_DESKTOP_DATA", str(tmp_path / "env-data"))
    with History() as h:
        assert h.path == tmp_path / "env-data" / "history.sqlite3"
        assert h._conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert h._conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION


def test_transcript_edits(store, tmp_path):
    clip = store.add_clip(_wav(tmp_path / "a.wav"), "ha", 3.0)
    assert store.edited_transcript(clip) is None
    store.edit_transcript(clip, "helo")
    store.edit_transcript(clip, "hello")
    assert store.edited_transcript(clip) == "hello"
    assert [e.text for e in store.transcript_edits(clip)] == ["helo", "hello"]


KILLED_WRITER = r"""
import sys, time
from ltu_desktop.store.history import History
h = History(sys.argv[1])
conv = h.new_conversation(h.add_clip(sys.argv[2], "hash-kill", 3.0))
mid = h.ask(conv, "What is it?", "hello", (0.0, 3.0), "demo", "cpu", "fp32", {"temperature": 0.1})
print(mid, flush=True)
text = ""
while True:
    text += "word "
    h.update_partial(mid, text)
    print(len(text), flush=True)
    time.sleep(0.005)
"""


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL")
def test_kill_9_mid_answer_keeps_the_partial_text(tmp_path):
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.Popen([sys.executable, "-c", KILLED_WRITER, str(tmp_path / "data"), str(_wav(tmp_path / "a.wav"))],
                            stdout=subprocess.PIPE, text=True, env=env)
    try:
        mid = int(proc.stdout.readline())
        committed = [int(proc.stdout.readline()) for _ in range(30)]
        with History(tmp_path / "data") as other:  # the writer is alive: its answer is still streaming
            assert other.message(mid).status == "streaming"
        os.kill(proc.pid, signal.SIGKILL)
        assert proc.wait(10) == -signal.SIGKILL
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.stdout.close()
    with History(tmp_path / "data") as h:
        m = h.message(mid)
        assert m.status == "interrupted"
        assert len(m.answer) >= committed[-1] and m.answer == "word " * (len(m.answer) // 5)
        assert list((tmp_path / "data" / "locks").glob("*.lock")) == [h._session_lock.path]


def test_a_closed_session_leaves_interrupted_answers(tmp_path):
    a = History(tmp_path)
    conv = a.new_conversation(a.add_clip(_wav(tmp_path / "a.wav"), "ha", 3.0))
    mid = a.ask(conv, "q", "", (0, 3), "demo", "cpu", "fp32", {})
    a.update_partial(mid, "half an")
    with History(tmp_path) as b:
        assert b.message(mid).status == "streaming"  # a is alive and may still finish it
    a.close()
    with History(tmp_path) as c:
        assert (c.message(mid).status, c.message(mid).answer) == ("interrupted", "half an")


def test_concurrent_writes_from_threads(tmp_path):
    """GUI thread + worker threads on one History, and a second History (another process's connection)."""
    first, second = History(tmp_path, timeout=10), History(tmp_path, timeout=10)
    clip = first.add_clip(_wav(tmp_path / "a.wav"), "ha", 3.0)
    errors: list[BaseException] = []
    ids: list[tuple[int, str]] = []

    def worker(h: History, n: int) -> None:
        try:
            conv = h.new_conversation(clip, f"thread {n}")
            for q in range(5):
                mid = h.ask(conv, f"q{n}.{q}", "t", (0, 3), "demo", "cpu", "fp32", SETTINGS)
                text = ""
                for w in range(20):
                    text += f"{w} "
                    h.update_partial(mid, text)
                    h.list_clips()
                h.finish(mid, text + "done", "complete", STATS)
                ids.append((mid, text + "done"))
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(first if n % 2 else second, n)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    first.close()
    second.close()
    assert errors == []
    with History(tmp_path) as h:
        assert len(ids) == 40 and all(h.message(m).answer == text and h.message(m).status == "complete"
                                      for m, text in ids)
        assert h.clip(clip).conversation_count == 8


def test_transcripts_are_kept_by_content_hash_and_asr_model_and_go_with_the_clip(tmp_path):
    """Issue 14, item 4: a restart must not transcribe a long clip again; another ASR model gets its own."""
    data = {"text": "Hello.", "language": "en", "no_speech": False, "segments": [[0.0, 1.0, "Hello."]]}
    with History(tmp_path) as h:
        clip = h.add_clip(tmp_path / "a.wav", "hash-a", 3.0)
        h.save_transcript("hash-a", "tiny.en.pt:100", data)
        h.save_transcript("hash-a", "large-v2.pt:200", {**data, "text": "Hello there."})
    with History(tmp_path) as h:
        stored = h.transcripts("hash-a")
        assert stored["tiny.en.pt:100"] == data and stored["large-v2.pt:200"]["text"] == "Hello there."
        assert h.transcripts("hash-b") == {}
        h.delete_clip(clip)
        assert h.transcripts("hash-a") == {}


def test_a_long_streaming_answer_is_not_rewritten_on_every_update(tmp_path):
    """A 16 KB answer growing word by word: once it spans pages (4 KB), each rewrite costs a page per 4 KB, so
    the 2400 updates after that are written a few dozen times (a short one stays one page per update)."""
    h = History(tmp_path)
    conv = h.new_conversation(h.add_clip(tmp_path / "a.wav", "ha", 3.0))
    mid = h.ask(conv, "Tell me everything.", "", (0, 3), "demo", "cpu", "fp32", {})
    text = "word " * 820
    h.update_partial(mid, text)
    writes = []
    h._conn.set_trace_callback(lambda sql: writes.append(sql) if sql.startswith("UPDATE messages") else None)
    while len(text) < 16_000:
        text += "word "
        h.update_partial(mid, text)
    assert len(writes) < 60, f"{len(writes)} rewrites of a multi-page answer for {len(text) // 5 - 820} updates"
    assert h.message(mid).answer.startswith("word word") and len(h.message(mid).answer) > 4000
    h.close()  # the updates held back are written on close: nothing said is lost
    with History(tmp_path) as again:
        assert (again.message(mid).status, again.message(mid).answer) == ("interrupted", text)


def test_short_answers_are_still_written_on_every_update(tmp_path):
    with History(tmp_path) as h:
        conv = h.new_conversation(h.add_clip(tmp_path / "a.wav", "ha", 3.0))
        mid = h.ask(conv, "q", "", (0, 3), "demo", "cpu", "fp32", {})
        for text in ("a", "a b", "a b c"):
            h.update_partial(mid, text)
            assert h.message(mid).answer == text
