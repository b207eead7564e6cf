"""The ask pipeline: retrieve → check grounding → pack prompt → generate → verify → Answer.

The decision to answer or refuse rests on evidence, not on the model's say-so:

1. If the best passage does not cover the question's specific terms (grounding), the
   question is refused without asking the model — "Det fremgår ikke af dokumenterne."
2. Otherwise the model answers, and every sentence is checked against its sources.
3. If the model refused, or none of its sentences is supported, the best source
   sentence is quoted instead (decision "extracted"), so the user gets what the
   documents say rather than an invented sentence or a wrong refusal.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from ragcli.citations import best_evidence, check_answer, is_refusal, make_citations
from ragcli.embedding import Embedder
from ragcli.generation import GenerationParams, Generator
from ragcli.grounding import DEFAULT_MIN_COVERAGE, extract_answer, measure_grounding
from ragcli.guardrails import DEFAULT_RULES, OutputFilter, Rule, blocked, check_input, check_output, check_passages
from ragcli.prompting import REFUSAL, build_prompt
from ragcli.retrieval import RetrievalParams, retrieve
from ragcli.schema import Answer
from ragcli.store import Index


@dataclass(frozen=True)
class AskParams:
    retrieval: RetrievalParams = field(default_factory=RetrievalParams)
    generation: GenerationParams = field(default_factory=GenerationParams)
    min_coverage: float = DEFAULT_MIN_COVERAGE  # refuse below this question coverage
    extract_fallback: bool = True  # quote the best source when the model's answer is unsupported
    rules: tuple[Rule, ...] = DEFAULT_RULES


def answer_question(
    question: str,
    index: Index,
    embedder: Embedder | None,
    backend: Generator,
    params: AskParams,
    on_token: Callable[[str], None] | None = None,
) -> Answer:
    timings: dict[str, float] = {}
    started = time.perf_counter()
    question, flags = check_input(question, params.rules)
    block = blocked(flags)
    trace: dict = {}
    retrieved = [] if block else retrieve(index, question, params.retrieval, embedder, trace)
    timings["retrieve_s"] = time.perf_counter() - started

    # The context holds the prompt and the answer; keep room for the answer.
    budget = backend.n_ctx - params.generation.max_tokens - 8
    prompt = build_prompt(question, retrieved, backend.count_tokens, budget, chat=backend.chat)
    hits = prompt.hits
    lexical = index.lexical
    grounding = measure_grounding(question, hits, lexical.document_frequency, len(lexical))
    flags += check_passages([h.chunk.text for h in hits], params.rules)

    raw = ""
    if hits and not block and grounding.grounded(params.min_coverage):
        generate_started = time.perf_counter()
        pieces: list[str] = []
        shown = OutputFilter(params.rules)
        for piece in backend.stream(prompt, params.generation):
            if not pieces:
                timings["first_token_s"] = time.perf_counter() - generate_started
            pieces.append(piece)
            if on_token:
                on_token(shown.feed(piece))
        if on_token:
            on_token(shown.flush())
        raw = "".join(pieces).strip()
        timings["generate_s"] = time.perf_counter() - generate_started
        text = raw or REFUSAL
        sentences = check_answer(text, hits)
        supported = any(s.supported for s in sentences) and not is_refusal(text)
        decision = "answered" if supported and all(s.supported for s in sentences) else "unsupported"
        if not supported and params.extract_fallback:
            extracted = extract_answer(grounding, hits)
            if extracted is not None:
                sentence, number = extracted
                text = f"{sentence} [{number}]"
                sentences = check_answer(text, hits)
                decision = "extracted"
        if decision != "extracted" and is_refusal(text):
            decision = "refused"
    else:
        text = REFUSAL
        if on_token:
            on_token(text)
        sentences = check_answer(text, hits)
        decision = "refused"

    text, output_flags = check_output(text, params.rules)
    flags += output_flags
    refused = decision == "refused"
    citations = make_citations(hits, sentences)
    timings["total_s"] = time.perf_counter() - started
    return Answer(
        question=question,
        text=text,
        refused=refused,
        citations=citations,
        sentences=sentences,
        hits=hits,
        model=backend.name,
        prompt=prompt.text,
        prompt_tokens=prompt.n_tokens,
        timings={k: round(v, 4) for k, v in timings.items()},
        evidence=[] if refused else best_evidence(text, hits, sentences),
        decision=decision,
        raw_answer=raw,
        grounding=grounding.to_dict(),
        flags=[f.to_dict() for f in flags],
        retrieval_trace=trace,
        temperature=params.generation.temperature,
    )
