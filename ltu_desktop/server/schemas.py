"""The request bodies of OpenAI's chat format that the server reads, and its own `ltu` options."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class InputAudio(BaseModel):
    data: str
    format: str


class ContentPart(BaseModel):
    model_config = ConfigDict(extra="allow")
    type: str
    text: str | None = None
    input_audio: InputAudio | None = None


class Message(BaseModel):
    model_config = ConfigDict(extra="allow")
    role: str
    content: str | list[ContentPart] | None = None


class LtuOptions(BaseModel):
    """The body's `ltu` field: what OpenAI's format has no word for."""

    model_config = ConfigDict(extra="forbid")
    window_start: float | None = Field(None, ge=0, description="start (s) of the window (10 s) the model hears")
    mode: Literal["joint", "audio", "transcript"] = "joint"
    compare: bool = Field(False, description="one answer per mode (joint, audio, transcript) as separate choices")


class StreamOptions(BaseModel):
    include_usage: bool = False


class ChatRequest(BaseModel):
    model_config = ConfigDict(extra="allow")
    model: str
    messages: list[Message]
    stream: bool = False
    stream_options: StreamOptions | None = None
    temperature: float | None = Field(None, ge=0, le=2)
    top_p: float | None = Field(None, gt=0, le=1)
    max_tokens: int | None = Field(None, ge=1)
    max_completion_tokens: int | None = Field(None, ge=1)
    seed: int | None = None
    stop: str | list[str] | None = None
    n: int = Field(1, ge=1)
    ltu: LtuOptions | None = None
