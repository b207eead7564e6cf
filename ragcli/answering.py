"""The ask pipeline: retrieve → pack prompt → generate → check citations → Answer."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from ragcli.citations import best_evidence, check_answer, is_refusal, make_citations
from ragcli.embedding import Embedder
from ragcli.generation import GenerationParams, LlamaBackend
from ragcli.prompting import REFUSAL, build_prompt
from ragcli.retrieval import RetrievalParams, retrieve
from ragcli.schema import Answer
from ragcli.store import Index


@dataclass(frozen=True)
class AskParams:
    retrieval: RetrievalParams = field(default_factory=RetrievalParams)
    generation: GenerationParams = field(default_factory=GenerationParams)


def answer_question(
    question: str,
    index: Index,
    embedder: Embedder | None,
    backend: LlamaBackend,
    params: AskParams,
    on_token: Callable[[str], None] | None = None,
) -> Answer:
    timings: dict[str, float] = {}
    started = time.perf_counter()
    hits = retrieve(index, question, params.retrieval, embedder)
    timings["retrieve_s"] = time.perf_counter() - started

    # The context holds the prompt and the answer; keep room for the answer.
    budget = backend.n_ctx - params.generation.max_tokens - 8
    prompt = build_prompt(question, hits, backend.count_tokens, budget, chat=backend.chat)

    if not prompt.hits:
        text = REFUSAL
        if on_token:
            on_token(text)
        timings["generate_s"] = 0.0
    else:
        generate_started = time.perf_counter()
        pieces: list[str] = []
        for piece in backend.stream(prompt, params.generation):
            if not pieces:
                timings["first_token_s"] = time.perf_counter() - generate_started
            pieces.append(piece)
            if on_token:
                on_token(piece)
        text = "".join(pieces).strip() or REFUSAL
        timings["generate_s"] = time.perf_counter() - generate_started

    sentences = check_answer(text, prompt.hits)
    refused = is_refusal(text)
    citations = make_citations(prompt.hits, sentences)
    timings["total_s"] = time.perf_counter() - started
    return Answer(
        question=question,
        text=text,
        refused=refused,
        citations=citations,
        sentences=sentences,
        hits=prompt.hits,
        model=backend.name,
        prompt=prompt.text,
        prompt_tokens=prompt.n_tokens,
        timings={k: round(v, 4) for k, v in timings.items()},
        evidence=[] if refused else best_evidence(text, prompt.hits, sentences),
    )
