"""Teachers that write CoT traces, the trace check, and the OpenAI-compatible teacher.

A teacher turns a :class:`TraceRequest` (a sample, its pseudo keyframe, a template id) into a trace, or
raises :class:`TeacherError`. Everything a remote teacher returns is untrusted text: it is parsed without
trusting its shape and checked by :func:`validate_trace` before it is kept. The API key is read from
``$VEASON_TEACHER_API_KEY`` only and is cut out of every message this module produces.
"""

from __future__ import annotations

import json
import os
import random
import re
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

import openai

from veason_lib.cot.teacher_prompt import teacher_messages

if TYPE_CHECKING:
    from veason_lib.samples import Sample

API_KEY_ENV = "VEASON_TEACHER_API_KEY"
MIN_TRACE_CHARS = 40
MAX_TRACE_CHARS = 4000  # about 1000 tokens: the student's whole completion budget is 1024
MAX_BACKOFF_S = 60.0
REDACTED = "[redacted]"
MIN_SECRET_CHARS = 8  # shorter keys ("EMPTY", "x") are placeholders for local servers, not secrets

# The drawn boxes are a hint for the teacher only; a trace that mentions them teaches the student to look
# for boxes that will never be there.
_MENTIONS_DRAWING = re.compile(
    r"\b(red|bounding|drawn|highlighted|marked|annotat\w*|outlined)[\s-]+(box|boxes|rectangles?|outlines?)\b"
    r"|\bbbox\w*|\bboxed\b|\b(outlined|drawn) in red\b"
    r"|\b(boxes|box|rectangles?|outlines?)\s+(is\s+|are\s+)?drawn\b",
    re.IGNORECASE,
)
_TAG = re.compile(r"</?\s*(think|answer)\s*>", re.IGNORECASE)


class TeacherError(RuntimeError):
    """A teacher could not produce a usable trace for one item (recorded, the run goes on)."""


@dataclass(frozen=True)
class TraceRequest:
    """What a teacher needs for one item: the sample, its target objects, the keyframe and a template."""

    sample: Sample
    obj_ids: tuple[str, ...]
    keyframe_pos: int  # index into the sampled frames
    template_id: int

    @property
    def keyframe_ts(self) -> int:
        return int(self.sample.timestamps[self.keyframe_pos])

    @property
    def keyframe_boxes(self) -> list[list[float]]:
        return self.sample.gt_boxes[self.keyframe_pos]

    def record(self, think: str, teacher: str) -> dict[str, Any]:
        """The traces-file line: the prompt's identity, the SFT answer (GT keyframe and boxes), the trace."""
        s = self.sample
        return {
            "key": s.key,
            "video": s.video,
            "exp_id": s.exp_id,
            "query": s.query,
            "type_id": s.type_id,
            "frame_indices": [int(i) for i in s.frame_indices],
            "timestamps": [int(t) for t in s.timestamps],
            "keyframe": self.keyframe_ts,
            "boxes": [[float(v) for v in box] for box in self.keyframe_boxes],
            "think": think,
            "template_id": self.template_id,
            "teacher": teacher,
        }


class Teacher(Protocol):
    name: str

    def write_trace(self, request: TraceRequest) -> str: ...


def validate_trace(text: str, query: str = "") -> str | None:
    """Why ``text`` is unusable as a ``<think>`` body, or ``None`` if it is fine.

    A phrase like "red box" counts as a mention of the drawing unless the query itself contains it
    (the target may be a red box).

    >>> validate_trace("The red box at 3s shows the dog running toward the ball on the left side.")
    'mentions the drawn boxes'
    >>> validate_trace("At 3s the red box is open and lies on the left side of the table.", "the red box")
    """
    if not isinstance(text, str) or not text.strip():
        return "empty"
    stripped = text.strip()
    if len(stripped) < MIN_TRACE_CHARS:
        return f"too short ({len(stripped)} < {MIN_TRACE_CHARS} characters)"
    if len(stripped) > MAX_TRACE_CHARS:
        return f"too long ({len(stripped)} > {MAX_TRACE_CHARS} characters)"
    if _TAG.search(stripped):
        return "contains <think>/<answer> tags"
    own_words = query.lower()
    if any(m.group().lower() not in own_words for m in _MENTIONS_DRAWING.finditer(stripped)):
        return "mentions the drawn boxes"
    return None


def api_key() -> str | None:
    """The teacher API key from the environment (never from a file, a parameter or a notebook)."""
    return os.environ.get(API_KEY_ENV) or None


def redact(text: str) -> str:
    """``text`` with the API key cut out: applied to everything written or raised about a teacher."""
    key = api_key()
    return text.replace(key, REDACTED) if key and len(key) >= MIN_SECRET_CHARS else text


class _Transient(Exception):  # noqa: N818 - internal signal, never escapes OpenAITeacher
    """A failure worth retrying: HTTP 5xx or 429, a timeout, a dropped connection, a malformed body."""


def message_content(body: str) -> str:
    """The first choice's message text of a chat-completions response body; ``_Transient`` if malformed."""
    try:
        content = json.loads(body)["choices"][0]["message"]["content"]
    except (json.JSONDecodeError, KeyError, IndexError, TypeError) as error:
        raise _Transient(f"malformed response body ({type(error).__name__}: {body[:80]!r})") from None
    if not isinstance(content, str):
        raise _Transient(f"malformed response body (message content is {type(content).__name__})")
    return content


class OpenAITeacher:
    """Any OpenAI-compatible chat endpoint (Seed1.5-VL, Qwen2.5-VL-72B, a local vLLM server).

    The client's own retries are off: this class retries HTTP 5xx/429, timeouts, connection errors and
    malformed bodies ``retries`` times with exponential backoff and jitter, and fails fast on other 4xx
    (a wrong model name or key will not fix itself). At most ``concurrency`` requests are in flight.
    """

    name = "openai"

    def __init__(
        self,
        base_url: str,
        model: str,
        timeout_s: float = 120.0,
        retries: int = 4,
        concurrency: int = 8,
        backoff_s: float = 1.0,
        max_tokens: int = 1024,
        temperature: float = 0.7,
    ) -> None:
        key = api_key()
        if key is None:
            raise TeacherError(
                f"set ${API_KEY_ENV} (any non-empty value for a server without authentication)"
            )
        if not base_url or not model:
            raise TeacherError("teacher_base_url and teacher_model must both be set for the openai teacher")
        self.base_url, self.model = base_url, model
        self.timeout_s, self.retries, self.concurrency = timeout_s, retries, concurrency
        self.backoff_s, self.max_tokens, self.temperature = backoff_s, max_tokens, temperature
        self._client = openai.OpenAI(base_url=base_url, api_key=key, timeout=timeout_s, max_retries=0)
        self._slots = threading.BoundedSemaphore(concurrency)
        self._jitter = random.Random()

    def __repr__(self) -> str:  # the client holds the key: never let a default repr print it
        return f"OpenAITeacher(base_url={self.base_url!r}, model={self.model!r})"

    def write_trace(self, request: TraceRequest) -> str:
        messages = teacher_messages(request.sample, request.keyframe_ts, request.template_id)
        for attempt in range(self.retries + 1):
            try:
                with self._slots:
                    return self._complete(messages)
            except _Transient as error:
                last = error
            if attempt < self.retries:
                time.sleep(self.backoff_delay(attempt))
        raise TeacherError(redact(f"gave up after {self.retries + 1} attempts: {last}"))

    def backoff_delay(self, attempt: int) -> float:
        """Seconds to wait before retry ``attempt + 1``: ``backoff_s * 2**attempt``, jittered by +-50%."""
        # jitter spreads the retries of concurrent workers so they do not hit a recovering server together
        return min(MAX_BACKOFF_S, self.backoff_s * 2**attempt) * self._jitter.uniform(0.5, 1.5)

    def _complete(self, messages: list[dict]) -> str:
        try:
            raw = self._client.chat.completions.with_raw_response.create(
                model=self.model, messages=messages, max_tokens=self.max_tokens, temperature=self.temperature
            )
        except openai.APITimeoutError:
            raise _Transient(f"timeout after {self.timeout_s} s") from None
        except openai.APIConnectionError as error:
            raise _Transient(redact(f"connection failed ({type(error).__name__})")) from None
        except openai.APIStatusError as error:
            detail = redact(f"HTTP {error.status_code}: {error.response.text[:200]!r}")
            if error.status_code >= 500 or error.status_code == 429:
                raise _Transient(detail) from None
            raise TeacherError(detail) from None
        return message_content(raw.http_response.text)
