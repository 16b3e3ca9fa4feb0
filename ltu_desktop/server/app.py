"""An OpenAI-compatible API over one loaded Engine: chat completions that take audio, Whisper-style
transcriptions, the model list and a health check.

The model is single-turn: the last user message's text is the question, asked about the most recent
`input_audio` part of the conversation; earlier turns are not in the prompt. Engine work runs one job at a
time on one worker thread (see jobs.py); decoding uploads runs beside it in anyio's thread pool."""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import tempfile
import threading
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anyio
from fastapi import APIRouter, FastAPI, File, Form, Request, UploadFile
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse, StreamingResponse
from starlette.exceptions import HTTPException

from ..audio.io import Audio, AudioError, load_audio
from ..engine.types import Answer, Clip, EngineError, GenerationSettings
from .formats import ApiError, StopScanner, chunk, completion_id, now, srt, sse, vtt
from .gate import Gate, Served
from .jobs import Dropped, Job, JobQueue, QueueFull
from .schemas import ChatRequest, ContentPart, InputAudio, LtuOptions, Message

if TYPE_CHECKING:
    from ..engine.engine import Engine

EngineProvider = Callable[[], "Engine | None"]
AUDIO_FORMATS = ("wav", "mp3", "flac", "ogg")
TRANSCRIPT_FORMATS = ("json", "text", "srt", "vtt", "verbose_json")
MAX_UPLOAD_BYTES = 25 * 2**20  # OpenAI's own limit for an audio upload
WHISPER_ALIAS = "whisper-1"  # what Whisper clients send; the loaded profile's ASR model answers it


@dataclass
class Choice:
    index: int
    mode: str
    text: str
    finish: str
    answer: Answer


@dataclass
class Reply:
    clip: Clip
    choices: list[Choice] = field(default_factory=list)


# --- the app ---------------------------------------------------------------------------------------
def create_app(engine_provider: EngineProvider, *, api_key: str | None = None, max_queue: int = 8,
               max_upload_bytes: int = MAX_UPLOAD_BYTES, loadable: Callable[[], list[dict]] | None = None,
               on_request: Callable[[Served], None] | None = None) -> FastAPI:
    """`engine_provider` returns the engine now loaded (None while there is none); `max_queue` requests may
    wait behind the running one; `loadable` lists the profiles that could be loaded instead (/v1/models)."""
    jobs = JobQueue(max_queue)
    audio_cache = _AudioCache()
    list_loadable = loadable or catalog_profiles

    @asynccontextmanager
    async def lifespan(_app: FastAPI):
        yield
        await anyio.to_thread.run_sync(jobs.close)

    app = FastAPI(title="ltu-desktop", version="1", lifespan=lifespan, docs_url="/docs", redoc_url=None)
    app.state.jobs = jobs
    app.add_middleware(Gate, api_key=api_key, max_body=max_upload_bytes, on_request=on_request)
    _error_handlers(app)
    v1 = APIRouter(prefix="/v1")

    def engine_for(model: str, *aliases: str) -> Engine:
        engine = engine_provider()
        if engine is None:
            raise ApiError(503, "No model is loaded yet; try again when it is.", "model_not_loaded")
        name = engine.profile.name
        if model not in (name, *aliases):
            known = {m["id"] for m in list_loadable()}
            hint = (f"{model!r} is not loaded: this server has {name!r} in memory (start "
                    f"`ltu-desktop serve --profile {model}` to serve it)" if model in known
                    else f"The model {model!r} does not exist; this server serves {name!r}")
            raise ApiError(404, f"{hint}. See GET /v1/models.", "model_not_found", param="model")
        return engine

    async def run(job: Job, request: Request) -> Any:
        """The job's result; a client that hangs up stops it within a token."""
        watch = asyncio.create_task(_watch_disconnect(request, job.stop))
        try:
            return await job.result()
        except Dropped as exc:
            raise ApiError(503, str(exc), "dropped") from None
        finally:
            watch.cancel()
            job.stop.set()

    def submit(work: Callable[[Job], Any]) -> Job:
        try:
            return jobs.submit(work)
        except Dropped as exc:
            raise ApiError(503, str(exc), "shutting_down") from None
        except QueueFull as exc:
            raise ApiError(429, f"{jobs.waiting} requests are already waiting for the model; retry in "
                                f"{exc.retry_after} s.", "queue_full",
                           headers={"Retry-After": str(exc.retry_after)}) from None

    @app.get("/health")
    def health() -> JSONResponse:
        engine = engine_provider()
        body = {"status": "ok" if engine else "no_model", "model": engine.profile.name if engine else None,
                "busy": jobs.busy, "waiting": jobs.waiting}
        return JSONResponse(body, status_code=200 if engine else 503)

    @v1.get("/models")
    def models() -> dict:
        return {"object": "list", "data": _model_cards(engine_provider(), list_loadable())}

    @v1.get("/models/{model_id}")
    def model(model_id: str) -> dict:
        for card in _model_cards(engine_provider(), list_loadable()):
            if card["id"] == model_id:
                return card
        raise ApiError(404, f"The model {model_id!r} does not exist.", "model_not_found", param="model")

    @v1.post("/chat/completions")
    async def chat_completions(body: ChatRequest, request: Request):
        engine = engine_for(body.model)
        question, part = _question_and_audio(body.messages)
        request.state.summary = question
        if body.n != 1:
            raise ApiError(400, "Only n=1 is supported; `ltu: {compare: true}` gives one answer per mode.",
                           "unsupported_value", param="n")
        audio = await _decode_input_audio(part, audio_cache)
        opts = body.ltu or LtuOptions()
        modes = _modes(engine, opts)
        window = None if opts.window_start is None else (opts.window_start, opts.window_start + engine.window_seconds)
        stops = [body.stop] if isinstance(body.stop, str) else list(body.stop or [])
        work = _answer_work(engine, audio, window, question, _settings(body, engine.default_settings()), modes, stops)
        job = submit(work)
        meta = (completion_id(), body.model, now())
        if body.stream:
            include_usage = bool(body.stream_options and body.stream_options.include_usage)
            return StreamingResponse(_stream(job, meta, engine, include_usage),
                                     media_type="text/event-stream", headers={"Cache-Control": "no-cache"})
        reply: Reply = await run(job, request)
        cid, model_name, created = meta
        choices = []
        for c in reply.choices:
            item = {"index": c.index, "message": {"role": "assistant", "content": c.text},
                    "finish_reason": c.finish, "logprobs": None}
            if opts.compare:
                item["ltu"] = _figures(engine, reply.clip, c)
            choices.append(item)
        return {"id": cid, "object": "chat.completion", "created": created, "model": model_name,
                "choices": choices, "usage": _usage(reply), "ltu": _figures(engine, reply.clip, reply.choices[0])}

    @v1.post("/audio/transcriptions")
    async def transcriptions(request: Request, file: UploadFile = File(...), model: str = Form(...),
                             response_format: str = Form("json")):
        engine = engine_for(model, WHISPER_ALIAS)
        if response_format not in TRANSCRIPT_FORMATS:
            raise ApiError(400, f"response_format must be one of {', '.join(TRANSCRIPT_FORMATS)}.",
                           "unsupported_value", param="response_format")
        if engine.profile.asr_whisper is None:
            raise ApiError(400, f"{engine.profile.describe()} has no transcript (ASR) Whisper model.",
                           "no_asr_model", param="model")
        name = Path(file.filename or "upload.wav").name
        request.state.summary = name
        audio = await audio_cache.decode(await file.read(), name, "file")
        transcript = await run(submit(lambda _job: engine.transcribe(audio)), request)
        text = transcript.text.strip()
        if response_format == "text":
            return PlainTextResponse(text + "\n")
        if response_format == "srt":
            return PlainTextResponse(srt(transcript.segments))
        if response_format == "vtt":
            return PlainTextResponse(vtt(transcript.segments), media_type="text/vtt")
        if response_format == "json":
            return {"text": text}
        segments = [{"id": i, "seek": 0, "start": s.start, "end": s.end, "text": s.text}
                    for i, s in enumerate(transcript.segments)]
        return {"task": "transcribe", "language": transcript.language, "duration": round(audio.duration, 3),
                "text": text, "segments": segments, "ltu": {"no_speech": transcript.no_speech}}

    app.include_router(v1)
    return app


def catalog_profiles() -> list[dict]:
    """The catalog's profiles, each with whether its files are all present (then it can be loaded)."""
    from ..models.catalog import CatalogError, Models

    try:
        models = Models()
        return [{"id": name, "label": spec.label, "ready": bool(spec.builtin) or not models.missing(name)}
                for name, spec in models.catalog.profiles.items()]
    except (CatalogError, OSError):
        return []


# --- helpers -----------------------------------------------------------------------------------------
def _model_cards(engine: Engine | None, loadable: list[dict]) -> list[dict]:
    cards = []
    if engine is not None:
        p = engine.profile
        cards.append({"id": p.name, "object": "model", "created": 0, "owned_by": "ltu-desktop",
                      "ltu": {"loaded": True, "label": p.describe(), "kind": p.kind, "hears_audio": engine.hears_audio,
                              "device": engine.device, "precision": engine.precision}})
    for m in loadable:
        if engine is None or m["id"] != engine.profile.name:
            cards.append({"id": m["id"], "object": "model", "created": 0, "owned_by": "ltu-desktop",
                          "ltu": {"loaded": False, "label": m.get("label", ""), "ready": m.get("ready", False)}})
    return cards


def _modes(engine: Engine, opts: LtuOptions) -> list[str]:
    """What the loaded model can do: the demo reads only the transcript, LTU only hears."""
    if not engine.hears_audio:
        return ["transcript"]
    if not engine.reads_transcript:
        return ["audio"]
    return ["joint", "audio", "transcript"] if opts.compare else [opts.mode]


def _question_and_audio(messages: list[Message]) -> tuple[str, InputAudio]:
    users = [m for m in messages if m.role == "user"]
    if not users:
        raise ApiError(400, "The conversation has no user message: the last user message holds the question.",
                       "no_user_message", param="messages")
    content = users[-1].content
    parts = [ContentPart(type="text", text=content)] if isinstance(content, str) else content or []
    question = "\n".join(p.text or "" for p in parts if p.type == "text").strip()
    if not question:
        raise ApiError(400, "The question is empty: the last user message needs a text part.", "empty_question",
                       param="messages")
    audio = [p.input_audio for m in users if isinstance(m.content, list) for p in m.content
             if p.type == "input_audio" and p.input_audio is not None]
    if not audio:
        raise ApiError(400, "There is no audio in the conversation: add a user content part "
                            '{"type": "input_audio", "input_audio": {"data": BASE64, "format": "wav"}}.',
                       "no_audio", param="messages")
    return question, audio[-1]


async def _decode_input_audio(part: InputAudio, cache: _AudioCache) -> Audio:
    fmt = part.format.lower()
    if fmt not in AUDIO_FORMATS:
        raise ApiError(400, f"Audio format {part.format!r} is not supported; use one of {', '.join(AUDIO_FORMATS)}.",
                       "unsupported_audio_format", param="input_audio.format")
    try:
        data = base64.b64decode(part.data, validate=True)
    except (binascii.Error, ValueError):
        raise ApiError(400, "input_audio.data is not valid base64.", "invalid_base64", param="input_audio.data") \
            from None
    return await cache.decode(data, f"input_audio.{fmt}", "input_audio.data")


class _AudioCache:
    """Decoded uploads by their bytes: asking again about the same file skips decoding, and the same
    samples mean the engine's features, transcript and prompt prefix are reused too."""

    def __init__(self, size: int = 8):
        self.size = size
        self._items: OrderedDict[tuple[str, str], Audio] = OrderedDict()
        self._lock = threading.Lock()

    async def decode(self, data: bytes, name: str, param: str) -> Audio:
        key = (hashlib.sha256(data).hexdigest(), Path(name).suffix.lower())
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                return self._items[key]
        try:
            audio = await anyio.to_thread.run_sync(_load_bytes, data, name)
        except AudioError as exc:
            raise ApiError(400, str(exc), "invalid_audio", param=param) from None
        with self._lock:
            self._items[key] = audio
            while len(self._items) > self.size:
                self._items.popitem(last=False)
        return audio


def _load_bytes(data: bytes, name: str) -> Audio:
    """Through audio.io's file reader, so an upload is decoded exactly as the same file on disk is."""
    with tempfile.TemporaryDirectory(prefix="ltu-upload-") as folder:
        path = Path(folder) / name
        path.write_bytes(data)
        audio = load_audio(path)
    return Audio(audio.samples, name)


def _settings(body: ChatRequest, d: GenerationSettings) -> GenerationSettings:
    """The request's values over the loaded family's defaults (the authors' settings for LTU or LTU-AS)."""
    return replace(d, temperature=d.temperature if body.temperature is None else body.temperature,
                   top_p=d.top_p if body.top_p is None else body.top_p,
                   max_new_tokens=body.max_completion_tokens or body.max_tokens or d.max_new_tokens, seed=body.seed)


def _answer_work(engine: Engine, audio: Audio, window: tuple[float, float] | None, question: str,
                 settings: GenerationSettings, modes: list[str], stops: list[str]) -> Callable[[Job], Reply]:
    def work(job: Job) -> Reply:
        reply = Reply(engine.prepare(audio, window))
        job.emit("prepared", reply.clip)
        for index, mode in enumerate(modes):
            halt, scanner, shown = threading.Event(), StopScanner(stops), []
            answer: Answer | None = None
            s = replace(settings, mode=mode)
            for piece in engine.answer(reply.clip, question, settings=s, stop=halt):
                # Read while the engine still holds its lock for this answer (another caller may follow).
                answer = answer or engine.last_answer
                shown.append(scanner.push(piece))
                if shown[-1]:
                    job.emit("piece", (index, shown[-1]))
                if scanner.hit or job.stop.is_set():
                    halt.set()
            shown.append(scanner.flush())
            if shown[-1]:
                job.emit("piece", (index, shown[-1]))
            answer = answer or engine.last_answer
            finish = "length" if not scanner.hit and len(answer.token_ids) >= s.max_new_tokens else "stop"
            choice = Choice(index, mode, "".join(shown).strip(), finish, answer)
            reply.choices.append(choice)
            job.emit("choice", choice)
            if job.stop.is_set():
                break
        return reply
    return work


async def _stream(job: Job, meta: tuple[str, str, int], engine: Engine, include_usage: bool) -> AsyncIterator[str]:
    """Server-sent events in OpenAI's chunk format; a client that hangs up cancels this generator,
    which stops the generation within a token."""
    cid, model, created = meta
    opened: set[int] = set()
    clip: Clip
    try:
        while True:
            kind, value = await job.next()
            if kind == "prepared":
                clip = value
            elif kind == "piece":
                index, text = value
                if index not in opened:
                    opened.add(index)
                    yield sse(chunk(cid, model, created, index, {"role": "assistant", "content": ""}))
                yield sse(chunk(cid, model, created, index, {"content": text}))
            elif kind == "choice":
                if value.index not in opened:
                    opened.add(value.index)
                    yield sse(chunk(cid, model, created, value.index, {"role": "assistant", "content": ""}))
                yield sse(chunk(cid, model, created, value.index, {}, value.finish,
                                ltu=_figures(engine, clip, value)))
            elif kind == "done":
                reply: Reply = value
                if include_usage:
                    yield sse({"id": cid, "object": "chat.completion.chunk", "created": created, "model": model,
                               "choices": [], "usage": _usage(reply),
                               "ltu": _figures(engine, reply.clip, reply.choices[0])})
                break
            else:
                exc = _as_api_error(value)
                yield sse(exc.body())
                break
        yield sse("[DONE]")
    finally:
        job.stop.set()


def _usage(reply: Reply) -> dict:
    prompt = sum(c.answer.stats.prompt_tokens for c in reply.choices)
    completion = sum(len(c.answer.token_ids) for c in reply.choices)
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}


def _figures(engine: Engine, clip: Clip, choice: Choice) -> dict:
    """The engine's own numbers for one answer (OpenAI's format has no place for them)."""
    st = choice.answer.stats
    return {"profile": engine.profile.name, "mode": choice.mode, "heard_audio": choice.answer.heard_audio,
            "window": [round(clip.window[0], 2), round(clip.window[1], 2)],
            "transcript": clip.transcript.text.strip() if clip.transcript else None,
            "first_token_s": round(st.first_token_s, 4), "tokens_per_s": round(st.tokens_per_s, 3),
            "prepare_s": round(st.prepare_s, 4), "reused_prefix_tokens": st.reused_prefix_tokens,
            "device": st.device, "precision": st.precision, "stopped": choice.answer.stopped}


async def _watch_disconnect(request: Request, stop: threading.Event) -> None:
    while not stop.is_set():
        if await request.is_disconnected():
            stop.set()
            return
        await asyncio.sleep(0.1)


def _as_api_error(exc: BaseException) -> ApiError:
    if isinstance(exc, ApiError):
        return exc
    if isinstance(exc, AudioError):
        return ApiError(400, str(exc), "invalid_audio")
    if isinstance(exc, Dropped):
        return ApiError(503, str(exc), "dropped")
    if isinstance(exc, EngineError):
        return ApiError(500, str(exc), "engine_error")
    return ApiError(500, f"Internal error: {type(exc).__name__}: {exc}", "internal_error")


def _error_handlers(app: FastAPI) -> None:
    def respond(exc: ApiError) -> JSONResponse:
        return JSONResponse(exc.body(), status_code=exc.status, headers=exc.headers)

    @app.exception_handler(ApiError)
    async def api_error(_request: Request, exc: ApiError) -> JSONResponse:
        return respond(exc)

    @app.exception_handler(RequestValidationError)
    async def invalid(_request: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(x) for x in first.get("loc", ()) if x != "body")
        message = f"{where}: {first.get('msg', 'invalid value')}" if where else first.get("msg", "Invalid request.")
        return respond(ApiError(400, message, "invalid_request", param=where or None))

    @app.exception_handler(HTTPException)
    async def http_error(_request: Request, exc: HTTPException) -> JSONResponse:
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code)
        return respond(ApiError(exc.status_code, str(exc.detail), code, headers=exc.headers))

    @app.exception_handler(Exception)
    async def internal(_request: Request, exc: Exception) -> JSONResponse:
        return respond(_as_api_error(exc))


__all__ = ["create_app", "catalog_profiles", "Served", "EngineProvider"]
