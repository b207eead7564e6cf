"""The ask pipeline: retrieve → ground → evidence windows → prompt → generate → verify → Answer.

The decision to answer or refuse rests on evidence, not on the model's say-so:

1. If the best passage does not cover the question's specific terms (grounding), the
   question is refused without asking the model — "Det fremgår ikke af dokumenterne."
2. Otherwise the model reads the evidence windows (the sentences of each passage that
   bear on the question) and answers; every sentence is verified strictly against the
   window it cites (numbers, names and rare terms must all be there). The answer is
   verified only if it also adds the asked-for information (a number for "hvor mange", a
   time for "hvornår", a name for "hvem", and something the question did not already say),
   and it must agree with the source sentence that extraction picks for the question.
3. A source sentence that passes the same tests is quoted ("extracted") when the extraction
   model (evidence.py: question coverage, embedding similarity, position) finds it likely
   enough to hold the answer; sentences from a passage flagged as prompt injection are never
   quoted. The quote is preferred to an agreeing model answer, since it says all that answer
   says; with `prefer_quote` off (`--model-answers`) the model's verified answer is shown
   ("answered"), as it is when the quote itself fails verification.
4. Otherwise the answer is an honest refusal, and the closest passages are shown.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace

from ragcli.citations import best_evidence, check_answer, make_citations, strip_markers
from ragcli.code_lists import asked_field, code_row, look_up
from ragcli.danish import REFUSAL, answer_type, fits_type, is_refusal, new_terms, numbers_in, prefix_match, strip_controls
from ragcli.embedding import Embedder
from ragcli.evidence import SIMILARITY_MODELS, WIDE_SOURCES, Extract, extract_answer, select_windows
from ragcli.generation import GenerationParams, Generator
from ragcli.grounding import DEFAULT_MIN_COVERAGE, Grounding, measure_grounding, question_weights
from ragcli.guardrails import DEFAULT_RULES, OutputFilter, Rule, blocked, check_input, check_output, check_passages
from ragcli.lexical import analyze
from ragcli.privacy import canonical_cpr, mask_answer, mask_cpr_parts
from ragcli.prompting import build_prompt
from ragcli.retrieval import RetrievalParams, check_question, retrieve
from ragcli.schema import Answer, Hit, Sentence
from ragcli.store import Index

# What the model is shown of each passage, in characters (about 3.5 a token in Danish).
DEFAULT_WINDOW_CHARS = 360
# A term in at most this share of the index's chunks (or in at most 2) is rare: an answer
# that names it must find it in the source it cites.
RARE_SHARE = 0.01


@dataclass(frozen=True)
class AskParams:
    retrieval: RetrievalParams = field(default_factory=RetrievalParams)
    generation: GenerationParams = field(default_factory=GenerationParams)
    min_coverage: float = DEFAULT_MIN_COVERAGE  # refuse below this question coverage
    require_names: bool = False  # refuse when no passage holds the names and codes the question asks about
    window_chars: int = DEFAULT_WINDOW_CHARS  # evidence shown per passage; 0 shows whole chunks
    extract_fallback: bool = True  # quote a qualifying source sentence when the model's answer fails
    min_extract_confidence: float | None = None  # the extraction model's probability to quote or confirm (None: its own)
    extract_sources: int = 3  # quote only from the best this many passages
    model_must_agree: bool = True  # the model's answer counts only if the best source sentence says the same
    # When the model's verified answer agrees with a qualifying source sentence, show the sentence:
    # agreeing means it holds every new word and number of the answer, and on the eval sets
    # Gemma-270M's answer held less of the gold answer than the sentence in 6 of 12 such rows
    # and more in none. A model that writes better than it quotes can turn this off.
    prefer_quote: bool = True
    rules: tuple[Rule, ...] = DEFAULT_RULES
    show_cpr: bool = False  # users entitled to see CPR numbers unmasked


def rarity_test(index: Index) -> Callable[[str], bool]:
    lexical = index.lexical
    limit = max(2, int(RARE_SHARE * len(lexical)))
    return lambda term: lexical.document_frequency(term) <= limit


def verified(sentences: list[Sentence], question: str) -> bool:
    """Every sentence backed by its source, and one of them adds what the question asks for."""
    if not sentences or any(is_refusal(s.text) for s in sentences):
        return False
    kind = answer_type(question)
    return all(s.supported for s in sentences) and any(
        s.informative and fits_type(strip_markers(s.text), kind, question) for s in sentences
    )


@dataclass
class _Outcome:
    text: str
    decision: str
    sentences: list[Sentence]
    model_agreed: bool = False  # a quote shown in place of the model's verified answer that says the same


def similarity_to(question: str, embedder: Embedder | None) -> Callable[[list[str]], list[float]] | None:
    """Cosine similarity of texts to the question with the index's embedding model, where the
    extraction model knows that model's scale (else None: extraction goes by words alone)."""
    if embedder is None or embedder.model_id not in SIMILARITY_MODELS:
        return None
    query = embedder.embed_query(question)
    return lambda texts: [float(v) for v in embedder.embed_few(texts) @ query] if texts else []


def _decide(
    question: str, raw: str, hits: list[Hit], passages: list[str], grounding: Grounding,
    params: AskParams, is_rare: Callable[[str], bool], tainted: set[int],
    similarity: Callable[[list[str]], list[float]] | None = None,
) -> _Outcome:
    # A passage flagged as prompt injection backs nothing: what the model took from it is data.
    shown = {n: passages[n - 1] for n in range(1, len(passages) + 1) if n not in tainted}
    sentences = check_answer(raw, shown, question, is_rare) if raw else []
    found = None
    if params.extract_fallback or params.model_must_agree:
        found = extract_answer(
            question, answer_type(question), hits, grounding.weights, params.min_extract_confidence, tainted,
            max_sources=params.extract_sources, coverage=grounding.coverage, similarity=similarity,
        )
    checked = verified(sentences, question)
    agreed = checked and agrees(raw, found, question)
    model = agreed or (checked and not params.model_must_agree)
    if model and not (params.prefer_quote and agreed):
        return _Outcome(raw, "answered", sentences)
    if params.extract_fallback and found is not None:
        text = f"{found.text} [{found.source}]"
        whole = {n: hit.chunk.text for n, hit in enumerate(hits, start=1) if n not in tainted}
        extracted = check_answer(text, whole, question, is_rare)
        if verified(extracted, question):
            return _Outcome(text, "extracted", extracted, model_agreed=agreed)
    if model:
        return _Outcome(raw, "answered", sentences)
    return _Outcome(REFUSAL, "refused", sentences)


def _shown_grounding(grounding: Grounding, asked: str, show_cpr: bool) -> dict:
    """The grounding as the Answer shows it: the analyser split a CPR number of the question
    into terms ("150585", "4321") that masking would no longer recognise, so they are masked here."""
    shown = {**grounding.to_dict(), "answer_type": answer_type(asked)}
    if not show_cpr:
        for key in ("terms", "missing", "missing_numbers", "missing_names"):
            shown[key] = mask_cpr_parts(list(shown[key]), asked)
    return shown


def agrees(answer: str, found: Extract | None, question: str) -> bool:
    """Does the model say what the quote extraction picks says (the best source sentence, with
    the neighbours it takes)? All the answer's new numbers and words are in it.

    A small model's verified sentence can still answer another question than the one
    asked ("SIT har ansvar for at drive …" for "who restores the application?"); the
    sentence that extraction picks for the question is an independent witness.
    """
    if found is None:
        return False
    claim = strip_markers(answer)
    fresh = new_terms(claim, question)
    if not fresh:
        return False
    quote_terms = frozenset(analyze(found.text)) | numbers_in(found.text)
    numbers = [t for t in fresh if t[0].isdigit()]
    words = [t for t in fresh if not t[0].isdigit()]
    if any(n not in quote_terms for n in numbers):
        return False
    shared = sum(prefix_match(w, quote_terms) for w in words)
    if answer_type(question) == "any" and not numbers and shared < 2:
        return False  # for an open question one shared word ("etableret") is no agreement
    # Every new word too: on the test half, half of them let 5 of 7 wrong answers through.
    return shared == len(words)


def _with_code_list(
    question: str, hits: list[Hit], index: Index, weights: dict[str, float], k: int, trace: dict
) -> list[Hit]:
    """The retrieved passages, one of them given up for the code list a question about a code
    asks of ("Hvad betyder off_kode 2?", "Hvilken funktionsstatuskode …?") where none of the
    first five holds the row: a row shares next to no words with the question, so neither
    search ranks it. The passage looked up takes the place of the one it holds (a list that
    runs on from a retrieved passage is that passage and the next), else the fifth's, never
    making more than k. `weights`: the question's terms (question_weights). `trace` names it."""
    if k < 2 or asked_field(question) is None:
        return hits
    lexical = index.lexical
    if code_row(question, hits[:WIDE_SOURCES], weights) is not None:
        return hits
    found = look_up(question, weights, lexical.search, index.chunks)
    if found is None:
        return hits
    # ranked by no search of the question: no scores of its own but its place
    found = replace(found, score=hits[-1].score if hits else 0.0, lexical_score=None, lexical_rank=None, found_by="code_list")
    c = found.chunk
    inside = [i for i, h in enumerate(hits) if h.chunk.doc == c.doc and c.char_start <= h.chunk.char_start and h.chunk.char_end <= c.char_end]
    at = inside[0] if inside else min(k, WIDE_SOURCES, len(hits) + 1) - 1
    trace["code_list"] = f"{c.doc} s. {c.pages}"
    return [*hits[:at], found, *[h for i, h in enumerate(hits) if i > at and i not in inside]][:k]


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
    asked = canonical_cpr(strip_controls(check_question(question)))
    # The question is shown, and given to the model, with CPR numbers masked; it is answered
    # as asked. Masked, a number matched every masked number in the passages ("[skjult]"), and
    # the answer could be another person's case; as asked, it is a number that the passage
    # must hold, as any number in a question is. Everything in the Answer is masked at the end.
    question, flags = check_input(asked, params.rules)
    block = blocked(flags)
    trace: dict = {}
    retrieved = [] if block else retrieve(index, asked, params.retrieval, embedder, trace)
    lexical = index.lexical
    weights = question_weights(asked, lexical.document_frequency, len(lexical))
    if retrieved and params.extract_fallback:
        retrieved = _with_code_list(asked, retrieved, index, weights, params.retrieval.k, trace)
    timings["retrieve_s"] = time.perf_counter() - started

    if params.window_chars > 0:
        windows = select_windows(retrieved, weights, params.window_chars)
        texts = [w.text for w in windows]
    else:
        windows, texts = [], [h.chunk.text for h in retrieved]
    # The context holds the prompt and the answer; keep room for the answer.
    budget = backend.n_ctx - params.generation.max_tokens - 8
    prompt = build_prompt(question, retrieved, backend.count_tokens, budget, chat=backend.chat, texts=texts)
    hits = prompt.hits
    shown_windows = [replace(w, source=n) for n, w in enumerate([w for w in windows if w.text.strip()][: len(hits)], 1)]
    # Grounding is measured over the passages the prompt holds, numbered as there.
    grounding = measure_grounding(asked, hits, lexical.document_frequency, len(lexical))
    passage_flags = check_passages([h.chunk.text for h in hits], params.rules)
    flags += passage_flags
    tainted = {f.source for f in passage_flags if f.source is not None and f.rule in ("prompt-injection", "role-override")}

    raw = ""
    if hits and not block and grounding.grounded(params.min_coverage, params.require_names):
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
        outcome = _decide(
            asked, raw, hits, prompt.passages, grounding, params, rarity_test(index), tainted,
            similarity_to(asked, embedder),
        )
    else:
        if on_token:
            on_token(REFUSAL)
        outcome = _Outcome(REFUSAL, "refused", [])

    text, output_flags = check_output(outcome.text, params.rules)
    flags += output_flags
    refused = outcome.decision == "refused"
    citations = make_citations(hits, outcome.sentences if not refused else [])
    timings["total_s"] = time.perf_counter() - started
    answer = Answer(
        question=question,
        text=text,
        refused=refused,
        citations=citations,
        sentences=outcome.sentences,
        hits=hits,
        model=backend.name,
        prompt=prompt.text,
        prompt_tokens=prompt.n_tokens,
        timings={k: round(v, 4) for k, v in timings.items()},
        evidence=[] if refused else best_evidence(text, hits, outcome.sentences),
        decision=outcome.decision,
        raw_answer=raw,
        grounding=_shown_grounding(grounding, asked, params.show_cpr),
        flags=[f.to_dict() for f in flags],
        retrieval_trace=trace,
        temperature=params.generation.temperature,
        windows=[w.to_dict() for w in shown_windows],
        model_agreed=outcome.model_agreed,
    )
    # CPR numbers are masked in every field of the answer, not only in its text.
    return mask_answer(answer, show_cpr=params.show_cpr)

