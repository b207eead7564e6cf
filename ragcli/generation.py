"""Local text generation with llama-cpp-python.

Any GGUF works. The model decides the prompt shape: a chat template in its GGUF
metadata means an instruction-tuned model (chat completion); none means a base
model (few-shot completion, as for the default Gemma-3-270M).
"""

from __future__ import annotations

import ctypes
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from ragcli.prompting import Prompt
from ragcli.registry import ModelNotAvailable

# Base models keep writing after the answer (a new "Svar:", a new question); the
# few-shot answers are one line, so the first line break ends the answer.
STOP_SEQUENCES = ["\n", "Spørgsmål:", "Kilder:", "###"]


@dataclass(frozen=True)
class GenerationParams:
    temperature: float = 0.0
    max_tokens: int = 160
    seed: int = 0
    top_p: float = 0.95
    repeat_penalty: float = 1.1


_log_callback = None  # the ctypes callback must outlive every Llama instance


def _silence_llama_logs() -> None:
    """Route llama.cpp's stderr chatter (model loading, timings) to nowhere."""
    global _log_callback
    if _log_callback is not None:
        return
    import llama_cpp

    @llama_cpp.llama_log_callback
    def _discard(level, text, user_data):  # noqa: ARG001 - signature fixed by llama.cpp
        return None

    _log_callback = _discard
    llama_cpp.llama_log_set(_log_callback, ctypes.c_void_p(0))


class LlamaBackend:
    """A GGUF model loaded in-process."""

    def __init__(self, model_path: Path, n_ctx: int = 4096, n_threads: int | None = None, seed: int = 0):
        if not model_path.is_file():
            raise ModelNotAvailable(f"model file not found: {model_path}")
        _silence_llama_logs()
        from llama_cpp import Llama

        try:
            self._llm = Llama(
                model_path=str(model_path),
                n_ctx=n_ctx,
                n_threads=n_threads or max(1, os.cpu_count() or 1),
                seed=seed,
                verbose=False,
            )
        except (ValueError, RuntimeError) as exc:
            raise ModelNotAvailable(f"cannot load model {model_path}: {exc}") from None
        self.model_path = model_path
        self.name = model_path.stem
        self.n_ctx = n_ctx
        self.chat = bool(self._llm.metadata.get("tokenizer.chat_template"))

    def count_tokens(self, text: str) -> int:
        return len(self._llm.tokenize(text.encode("utf-8"), add_bos=True, special=False))

    def stream(self, prompt: Prompt, params: GenerationParams) -> Iterator[str]:
        """Yield the answer's text piece by piece as the model produces it."""
        # llama-cpp-python reuses the KV cache of a shared prompt prefix between calls;
        # with this model that made a second identical call continue differently. A
        # clean state per question keeps answers reproducible (the prompt is re-read).
        self._llm.reset()
        common = dict(
            max_tokens=params.max_tokens,
            temperature=params.temperature,
            top_p=params.top_p,
            repeat_penalty=params.repeat_penalty,
            seed=params.seed,
            stream=True,
        )
        if self.chat and prompt.messages is not None:
            for part in self._llm.create_chat_completion(messages=prompt.messages, **common):
                delta = part["choices"][0].get("delta", {})
                if delta.get("content"):
                    yield delta["content"]
        else:
            for part in self._llm.create_completion(prompt.text, stop=STOP_SEQUENCES, **common):
                text = part["choices"][0]["text"]
                if text:
                    yield text
