"""Answer records: what an answer rests on, in a form a case worker can file and check later.

A record holds the question, the answer and ragcli's decision; for every cited span the
document, the sha256 of its file, the page, the character span into the document's
cleaned text, the quote and the verification score; the retrieval list; the exact
prompt; the model file and its sha256; the embedding model; the ragcli version, the
settings and the time. Its JSON shape is wire.RecordDict, built by `record_json` alone; the
Markdown form is drawn from that JSON, so the two never disagree.

`verify_record` re-reads a JSON record later and says, one line each, which sources no
longer hash the same and which quotes they no longer contain: a record kept for the
case file (journalisering) is worth little if nobody can tell that its evidence changed.
"""

from __future__ import annotations

import json
import re
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ragcli import __version__, wire
from ragcli.errors import DataError, UsageError
from ragcli.results_file import replace_whole
from ragcli.schema import Answer, Chunk

# The shape's name lives with the shape (wire.RecordDict); kept here under its old name too.
RECORD_FORMAT = wire.RECORD_FORMAT
RECORD_SUFFIXES = (".json", ".md")
MASK = "[skjult]"
# Office formats have no pages: their "page" is a section (docx/odt) or a part of a mail.
PAGED_SUFFIXES = (".pdf",)


class RecordError(DataError):
    """A record that cannot be written, or a file that is not a readable record."""


@dataclass(frozen=True)
class CitedSpan:
    """The source text that supports one answer sentence: the document's text[char_start:char_end]."""

    sentence: int  # 0-based index of the answer sentence
    answer_sentence: str  # the sentence without source markers (a highlight's note)
    source: int  # 1-based source number in the prompt
    doc: str
    page: int  # page (office formats: section or mail part) where the quote starts
    page_start: int  # the cited passage's pages
    page_end: int
    char_start: int  # offsets into the document's cleaned text (pages joined as chunking does)
    char_end: int
    quote: str
    score: float  # the answer sentence's verification score against what it cites
    quote_support: float  # share of the sentence's content terms this quote holds
    supported: bool


# ---------------------------------------------------------------- finding the spans


def supporting_span(claim: str, text: str) -> tuple[int, int, float] | None:
    """The sentence of `text` (or two neighbouring ones) that best supports `claim`.

    Returns (start, end, share) with offsets into text; the share is citations.support's
    (0 when a number, name or rare term is missing). A claim that no sentence supports is
    still located at the sentence holding most of its terms, so the reader sees where the
    model looked.
    """
    from ragcli.citations import support
    from ragcli.danish import is_furniture, prefix_match
    from ragcli.evidence import units
    from ragcli.lexical import analyze

    found = [u for u in units(text) if not is_furniture(u.text)]
    candidates = [(u.start, u.end, True) for u in found] + [(a.start, b.end, False) for a, b in zip(found, found[1:])]
    claim_terms = list(dict.fromkeys(analyze(claim)))
    best: tuple[tuple, int, int, float] | None = None
    for start, end, single in candidates:
        piece = text[start:end]
        share, missing = support(claim, piece)
        terms = set(analyze(piece))
        overlap = sum(prefix_match(t, terms) for t in claim_terms) / len(claim_terms) if claim_terms else 0.0
        # A pair must do better than its better half to be chosen: the shortest proof wins ties.
        key = (round(share, 6), -len(missing), round(overlap, 6), single, -(end - start))
        if best is None or key > best[0]:
            best = (key, start, end, share)
    return None if best is None else (best[1], best[2], best[3])


def _page_of(offset: int, page_starts: list[int], numbers: list[int]) -> int:
    from bisect import bisect_right

    return numbers[max(0, bisect_right(page_starts, offset) - 1)]


def cited_spans(
    answer: Answer,
    raw_chunk: Callable[[Chunk], str] = lambda chunk: chunk.text,
    page_map: Callable[[str], tuple[list[int], list[int]] | None] = lambda doc: None,
) -> list[CitedSpan]:
    """For every answer sentence and every source it cites (or ragcli attached), the supporting span.

    raw_chunk gives a chunk's text as stored (the answer's may have CPR numbers masked,
    which shifts offsets); page_map gives a document's page start offsets and numbers,
    needed only where a passage spans pages.
    """
    from ragcli.citations import strip_markers
    from ragcli.danish import is_refusal
    from ragcli.evidence import SEPARATOR

    if answer.decision == "refused":
        return []
    spans: list[CitedSpan] = []
    for index, sentence in enumerate(answer.sentences):
        claim = strip_markers(sentence.text)
        if not claim or is_refusal(claim):
            continue
        # A quote of two units of a passage apart is one answer sentence joined by " … ": each
        # part has its own place in the source (the first had been left out, though it is
        # usually the one that answers).
        parts = [p.strip() for p in claim.split(SEPARATOR) if p.strip()] or [claim]
        seen: set[tuple[int, int, int]] = set()
        for number, part in ((n, p) for n in dict.fromkeys((*sentence.cites, *sentence.attached)) for p in parts):
            if not 0 < number <= len(answer.hits):
                continue
            chunk = answer.hits[number - 1].chunk
            text = raw_chunk(chunk)
            found = supporting_span(part, text)
            # of a quote in parts, only where a part is found (another source holds the other part)
            if found is None or (len(parts) > 1 and found[2] <= 0) or (number, found[0], found[1]) in seen:
                continue
            seen.add((number, found[0], found[1]))
            start, end, share = found
            page = chunk.page_start
            if chunk.page_end != chunk.page_start:
                pages = page_map(chunk.doc)
                if pages is not None:
                    page = _page_of(chunk.char_start + start, *pages)
            spans.append(
                CitedSpan(
                    sentence=index, answer_sentence=claim, source=number, doc=chunk.doc, page=page,
                    page_start=chunk.page_start, page_end=chunk.page_end,
                    char_start=chunk.char_start + start, char_end=chunk.char_start + end,
                    quote=text[start:end], score=sentence.support, quote_support=round(share, 3),
                    supported=sentence.supported,
                )
            )
    return spans


def document_text(path: Path, doc: str) -> tuple[str, list[int], list[int]]:
    """A document's cleaned text as ingest chunked it, with its page start offsets and numbers."""
    from ragcli.chunking import join_pages
    from ragcli.loading import load_document

    return join_pages(load_document(path, doc).pages)


def location_label(doc: str, page: int, heading: str = "") -> str:
    """How a page is named for people: "s. 3" in a PDF, "afsnit 3 (Takster)" in an office document.

    Office formats have no pages; ragcli/office.py cuts them into sections that start at
    a heading (an e-mail's attachments start with "Bilag: <name>"), and the section's
    first line names it.
    """
    suffix = Path(doc).suffix.lower()
    heading = re.sub(r"\s+", " ", heading).strip()
    heading = heading if len(heading) <= 60 else heading[:60].rsplit(" ", 1)[0] + " …"
    if suffix in (".docx", ".odt"):
        return f"afsnit {page}" + (f" ({heading})" if heading else "")
    if suffix == ".eml":
        if page == 1:
            return "e-mailen"
        return f"del {page}" + (f" ({heading})" if heading.startswith("Bilag:") else "")
    return f"s. {page}"


# ---------------------------------------------------------------- building the record


@dataclass
class RecordFacts:
    """What the record needs beyond the Answer: the index's documents and the run's setup."""

    index: str
    embedding_model: str
    documents: dict[str, Any]  # doc name → store.DocumentRecord (name, path, sha256, size, title)
    settings: dict = field(default_factory=dict)
    model_file: str | None = None
    model_sha256: str | None = None
    model_url: str | None = None
    show_cpr: bool = False


def model_sha256(path: Path) -> str:
    """The GGUF's sha256; the default model's comes from the stamp ragcli.registry wrote when it
    verified the file (same size and mtime), saving a second of hashing on every `ask --record`."""
    from ragcli.registry import sha256_file

    stamp = path.with_suffix(".verified")
    try:
        st = path.stat()
        digest, size, mtime = stamp.read_text().split()
        if re.fullmatch(r"[0-9a-f]{64}", digest) and (size, mtime) == (str(st.st_size), str(st.st_mtime_ns)):
            return digest
    except (OSError, ValueError):
        pass
    return sha256_file(path)


def facts_from_session(session, params=None, n_ctx: int | None = None) -> RecordFacts:
    """RecordFacts of an open Session whose language model is loaded (ragcli.session)."""
    index = session.index
    generator = session._generator  # noqa: SLF001 - loaded already; a record must not load a model
    model_file = model_sha = None
    path = getattr(generator, "model_path", None)
    if path is not None:
        model_file = str(Path(path).resolve())
        model_sha = model_sha256(Path(path))
    settings: dict[str, Any] = {"n_ctx": n_ctx if n_ctx is not None else session.n_ctx, "seed": session.seed}
    if params is not None:
        settings.update(
            mode=params.retrieval.mode, k=params.retrieval.k, temperature=params.generation.temperature,
            max_tokens=params.generation.max_tokens, seed=params.generation.seed, min_coverage=params.min_coverage,
            window_chars=params.window_chars, show_cpr=params.show_cpr, prefer_quote=params.prefer_quote,
            model_must_agree=params.model_must_agree,
        )
    if session.llm_url:
        settings["llm_chat"] = session.llm_chat
    return RecordFacts(
        index=index.name,
        embedding_model=index.embedding_model,
        documents={d.name: d for d in index.documents()},
        settings=settings,
        model_file=model_file,
        model_sha256=model_sha,
        model_url=session.llm_url,
        show_cpr=bool(params.show_cpr) if params is not None else False,
    )


def raw_chunks_from(index) -> Callable[[Chunk], Chunk]:
    """A passage as the index stores it (its text and file name unmasked), falling back to the
    passage itself. The answer's passages have CPR numbers masked, in the file name too
    ("sag_[skjult].pdf"): offsets, the document's record and its file are found from this."""
    from ragcli.privacy import mask_cpr

    def raw(chunk: Chunk) -> Chunk:
        if chunk.chunk_id >= 0:
            stored = index.chunks([chunk.chunk_id]).get(chunk.chunk_id)
            if stored is not None and chunk.doc in (stored.doc, mask_cpr(stored.doc)):
                return stored
        return chunk

    return raw


def build_record(
    answer: Answer, facts: RecordFacts, raw_chunk: Callable[[Chunk], Chunk] | None = None, now: datetime | None = None
) -> wire.RecordDict:
    """The record of an answer (see record_json for its shape)."""
    from dataclasses import replace

    documents = facts.documents
    cache: dict[str, tuple[list[int], list[int], dict[int, str]] | None] = {}

    def loaded(doc: str):
        # Read again only where needed: a passage over several pages, or an office document's headings.
        if doc not in cache:
            record = documents.get(doc)
            cache[doc] = None
            if record is not None:
                try:
                    text, starts, numbers = document_text(Path(record.path), doc)
                    ends = starts[1:] + [len(text)]
                    firsts = {n: text[a:b].split("\n", 1)[0] for n, a, b in zip(numbers, starts, ends)}
                    cache[doc] = (starts, numbers, firsts)
                except Exception:  # noqa: BLE001 - a source gone or changed since ingest: fall back to the first page
                    cache[doc] = None
        return cache[doc]

    def page_map(doc: str):
        found = loaded(doc)
        return None if found is None else found[:2]

    def heading(doc: str, page: int) -> str:
        if Path(doc).suffix.lower() in PAGED_SUFFIXES:
            return ""
        found = loaded(doc)
        return "" if found is None else found[2].get(page, "")

    # Spans are found in the passages as stored, under their real file names; record_json
    # masks what it writes.
    stored = answer if raw_chunk is None else replace(answer, hits=[replace(h, chunk=raw_chunk(h.chunk)) for h in answer.hits])
    spans = cited_spans(stored, page_map=page_map)
    locations = {(s.doc, s.page): location_label(s.doc, s.page, heading(s.doc, s.page)) for s in spans}
    return record_json(answer, spans, facts, now or datetime.now(UTC), locations)


def record_json(
    answer: Answer, spans: list[CitedSpan], facts: RecordFacts, now: datetime, locations: dict[tuple[str, int], str] | None = None
) -> wire.RecordDict:
    """The record's JSON: what goes in it, masked where the settings say; its shape is wire.RecordDict."""
    from ragcli.citations import strip_markers
    from ragcli.privacy import mask_cpr, mask_snippet

    def shown(text: str) -> str:
        return text if facts.show_cpr else mask_cpr(text)

    def source(doc: str) -> wire.RecordSourceDict:
        record = facts.documents.get(doc)
        title = getattr(record, "title", "") or ""  # a first line, which can end inside a number
        found = wire.record_source(shown(doc), record, title if facts.show_cpr else mask_snippet(title))
        # A folder or file named by a CPR number ("borger_150585-4321/notat.txt"): masked like
        # the name; `verify` and `--annotate` find the file again by the rest and its sha256.
        return {**found, "path": shown(found["path"]) if found["path"] else found["path"]}

    def location(span: CitedSpan) -> str:
        return shown((locations or {}).get((span.doc, span.page)) or location_label(span.doc, span.page))

    def span_record(span: CitedSpan) -> wire.RecordSpanDict:
        return {**wire.record_span(span, source(span.doc), location(span), shown(span.quote)), "doc": shown(span.doc)}

    cited_docs = list(dict.fromkeys(s.doc for s in spans))
    cited_numbers = {c.number for c in answer.citations if c.cited}
    return wire.answer_record(
        answer,
        created=now.isoformat(timespec="seconds"),
        ragcli_version=__version__,
        sentences=[wire.record_sentence(s, strip_markers(s.text)) for s in answer.sentences],
        spans=[span_record(s) for s in spans],
        sources=[source(doc) for doc in cited_docs],
        retrieval=[wire.record_hit(n, hit, n in cited_numbers) for n, hit in enumerate(answer.hits, start=1)],
        model=wire.RecordModelDict(name=answer.model, file=facts.model_file, sha256=facts.model_sha256, url=facts.model_url),
        embedding_model=facts.embedding_model,
        index=facts.index,
        settings=facts.settings,
    )


# ---------------------------------------------------------------- writing


def check_record_path(path: Path) -> Path:
    """Fail before the model runs when the record cannot be written where asked."""
    if path.suffix.lower() not in RECORD_SUFFIXES:
        raise UsageError(f"--record skal slutte på .json eller .md, ikke {path.name!r}")
    if path.is_dir():
        raise UsageError(f"--record {path} er en mappe; angiv en fil")
    if not path.parent.exists():
        raise UsageError(f"mappen {path.parent} findes ikke (--record {path})")
    if path.exists() and not _is_a_record(path):
        # a user's notes.md had been replaced by the record without a word
        raise UsageError(f"--record {path} findes og er ikke en ragcli-optegnelse; vælg et andet navn")
    return path


def _is_a_record(path: Path) -> bool:
    """An earlier record of ragcli's (JSON with its format, Markdown with its heading), which
    a new one may replace; any other file is the user's."""
    try:
        if not path.is_file() or path.stat().st_size > MAX_RECORD_BYTES:
            return False
        with path.open("rb") as handle:
            head = handle.read(4096).decode("utf-8", errors="replace")
    except OSError:
        return False
    if path.suffix.lower() == ".json":
        return f'"format": "{RECORD_FORMAT}"' in head
    return head.startswith(MARKDOWN_HEADING)


def _fence(text: str) -> str:
    """A code fence longer than any run of backticks in text, so a document cannot end it."""
    longest = max((len(m) for m in re.findall(r"`+", text)), default=0)
    return "`" * max(3, longest + 1)


def _md_line(text: str) -> str:
    """Document text on one Markdown line: whitespace flattened, markup characters escaped."""
    from ragcli.terminal import printable

    flat = re.sub(r"\s+", " ", printable(text)).strip()
    return re.sub(r"([\\`*_\[\]<>#|])", r"\\\1", flat)


MARKDOWN_HEADING = "# Svar med belæg (ragcli)"


def record_markdown(record: dict) -> str:
    """The record for people (and for the case file); drawn from the JSON shape."""
    lines = [
        MARKDOWN_HEADING,
        "",
        f"- Spørgsmål: {_md_line(record['question'])}",
        f"- Svar: {_md_line(record['answer'])}",
        f"- Afgørelse: {record['decision']}",
        f"- Tidspunkt: {record['created']} · ragcli {record['ragcli_version']} · indeks {_md_line(record['index'])}",
        "",
        "## Belæg",
        "",
    ]
    if not record["spans"]:
        lines.append("Ingen kilde er citeret.")
    for span in record["spans"]:
        mark = "understøttet" if span["supported"] else "IKKE understøttet"
        lines += [
            f"**[{span['source']}] {_md_line(span['doc'])}, {span['location']}** — tegn {span['char_start']}–{span['char_end']},"
            f" score {span['score']} ({mark})",
            "",
            f"> {_md_line(span['quote'])}",
            "",
            f"Svarsætning: {_md_line(span['answer_sentence'])}",
            "",
            f"sha256 `{span['sha256']}`",
            "",
        ]
    lines += ["## Kilder", "", "| Dokument | sha256 | Sti |", "|---|---|---|"]
    for source in record["sources"]:
        lines.append(f"| {_md_line(source['doc'])} | `{source['sha256']}` | {_md_line(str(source['path']))} |")
    lines += ["", "## Hentede passager", "", "| # | Dokument | Side | Score | Citeret |", "|---|---|---|---|---|"]
    for hit in record["retrieval"]:
        lines.append(f"| {hit['source']} | {_md_line(hit['doc'])} | {hit['pages']} | {hit['score']} | {'ja' if hit['cited'] else ''} |")
    model = record["model"]
    lines += [
        "",
        "## Model og indstillinger",
        "",
        f"- Sprogmodel: {_md_line(str(model['name']))}" + (f" (`{_md_line(model['file'])}`)" if model["file"] else "")
        + (f" via {_md_line(model['url'])}" if model["url"] else ""),
        f"- Sprogmodellens sha256: `{model['sha256']}`" if model["sha256"] else "- Sprogmodellens sha256: (ukendt: model på en server)",
        f"- Embeddingmodel: {_md_line(record['embedding_model'])}",
        f"- Indstillinger: {_md_line(json.dumps(record['settings'], ensure_ascii=False, sort_keys=True))}",
        "",
        "## Prompt",
        "",
    ]
    fence = _fence(record["prompt"])
    lines += [fence, record["prompt"], fence, ""]
    return "\n".join(lines)


def write_record(record: dict, path: Path) -> Path:
    """Write the record as JSON or Markdown (by suffix), atomically."""
    check_record_path(path)
    if path.suffix.lower() == ".json":
        body = json.dumps(record, ensure_ascii=False, indent=2) + "\n"
    else:
        body = record_markdown(record)
    replace_whole(path, lambda handle: handle.write(body.encode("utf-8")))
    return path


# ---------------------------------------------------------------- verifying


@dataclass
class Verification:
    sources: int = 0
    quotes: int = 0
    changes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.changes


MAX_RECORD_BYTES = 256 * 1024 * 1024  # a record of a long answer is kilobytes; /dev/zero is endless


def read_record(path: Path) -> dict:
    if path.suffix.lower() != ".json":
        raise UsageError(f"verify læser JSON-optegnelser (ask --record FIL.json), ikke {path.name!r}")
    # Only a regular file of a sane size: "x.json" linked to /dev/zero had read until memory
    # ran out, and a FIFO waited for ever.
    if path.exists() and not path.is_file():
        raise RecordError(f"{path} er ikke en almindelig fil (en enhed, et rør eller en mappe)")
    if path.is_file() and path.stat().st_size > MAX_RECORD_BYTES:
        raise RecordError(f"{path} er for stor til at være en optegnelse ({path.stat().st_size:,} bytes)")
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise RecordError(f"optegnelsen findes ikke: {path}") from None
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise RecordError(f"{path} er ikke en læsbar optegnelse: {str(exc).splitlines()[0][:160]}") from None
    except RecursionError:
        raise RecordError(f"{path} er ikke en læsbar optegnelse: JSON indlejret for dybt") from None
    if not isinstance(record, dict) or record.get("format") != RECORD_FORMAT:
        raise RecordError(f"{path} er ikke en ragcli-optegnelse (format {RECORD_FORMAT} mangler)")
    if not isinstance(record.get("spans"), list) or not isinstance(record.get("sources"), list):
        raise RecordError(f"{path} er en ufuldstændig optegnelse (spans/sources mangler)")
    # A record may have been edited by hand (or by someone else): check the fields verify reads.
    for entry in record["sources"] + record["spans"]:
        if not isinstance(entry, dict) or not isinstance(entry.get("doc"), str):
            raise RecordError(f"{path} er en beskadiget optegnelse (en kilde eller et citat uden dokumentnavn)")
        if not isinstance(entry.get("sha256"), (str, type(None))):  # a list had been a TypeError traceback
            raise RecordError(f"{path} er en beskadiget optegnelse (sha256 for {entry['doc']!r} er ikke tekst)")
    for span in record["spans"]:
        offsets_ok = all(isinstance(span.get(key), int) or span.get(key) is None for key in ("char_start", "char_end"))
        if not isinstance(span.get("quote"), str) or not offsets_ok:
            raise RecordError(f"{path} er en beskadiget optegnelse (citat i {span['doc']!r} uden tekst eller med forkerte tegnpositioner)")
    return record


def _normalised(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


MASKED_CHARS = 40  # a masked CPR number stands for 1 to this many characters of the source


# Places looked at, over all pieces of one quote, at least, and per character of the text: a
# hand-made quote of 200 masked numbers between single letters, over a 2 MB source of that
# letter, had taken minutes (pieces times places). A real quote's pieces are words, found a
# few times each; a registry's rows ("Hansen,[skjult],[skjult],Aarhus") find "," often, and a
# budget of a few places per character still finds them.
MAX_PLACES = 2_000_000
PLACES_PER_CHAR = 2
MOST_PLACES = 8_000_000  # a ceiling whatever the text's length (some seconds, at most)


def _occurrences(part: str, text: str, budget: list[int] | None = None) -> list[int] | None:
    """Where `part` starts in `text`; None once `budget` (places left, shared) runs out."""
    found, at = [], text.find(part)
    while at >= 0:
        found.append(at)
        if budget is not None:
            budget[0] -= 1
            if budget[0] < 0:
                return None
        at = text.find(part, at + 1)
    return found


def span_of_parts(
    pieces: list[str], gaps: list[tuple[int, int]], text: str, lead: int = 0, trail: int = 0
) -> tuple[int, int] | None:
    """Where `pieces` stand in `text` in order, piece i at lo..hi characters after piece i-1
    (gaps[i-1] = (lo, hi)), with at least `lead` characters before and `trail` after: the
    (start, end) that starts first, and ends first from there; None if nowhere.

    Every place each piece can end is kept with the earliest start that reaches it, so the
    work grows with the text, not with the number of pieces: a regular expression with one
    lazy gap per piece backtracked for minutes over a contents page's leader dots. Past the
    places budget (MAX_PLACES, or PLACES_PER_CHAR per character of the text, at most
    MOST_PLACES), None: not found."""
    budget = [min(MOST_PLACES, max(MAX_PLACES, PLACES_PER_CHAR * len(text)))]
    first = _occurrences(pieces[0], text, budget)
    if first is None:
        return None
    reach = [(at + len(pieces[0]), at) for at in first if at >= lead]  # (end, start)
    for piece, (lo, hi) in zip(pieces[1:], gaps):
        nxt: list[tuple[int, int]] = []
        window: deque[tuple[int, int]] = deque()  # reachable (end, start) with end in [at - hi, at - lo]
        i = 0
        places = _occurrences(piece, text, budget)
        if places is None:
            return None
        for at in places:
            while i < len(reach) and reach[i][0] <= at - lo:
                # keep the window's starts increasing, so its first is the earliest start
                while window and window[-1][1] >= reach[i][1]:
                    window.pop()
                window.append(reach[i])
                i += 1
            while window and window[0][0] < at - hi:
                window.popleft()
            if window:
                nxt.append((at + len(piece), window[0][1]))
        reach = nxt
        if not reach:
            return None
    done = [(start, end) for end, start in reach if len(text) - end >= trail]
    return min(done) if done else None


def quote_in(quote: str, text: str) -> bool:
    """Does whitespace-normalised `text` hold the quote, each masked CPR number in it standing
    for 1 to MASKED_CHARS characters (masks side by side for a wider gap, masks at either end
    for characters there)? See span_of_parts."""
    parts = [_normalised(p) for p in _normalised(quote).split(MASK)]
    if len(parts) == 1:
        return parts[0] in text
    pieces: list[str] = []
    masks_before: list[int] = []
    masks = 0
    for i, part in enumerate(parts):
        masks += i > 0
        if part:
            pieces.append(part)
            masks_before.append(masks)
            masks = 0
    if not pieces:
        return len(text) >= masks
    gaps = [(n, n * MASKED_CHARS) for n in masks_before[1:]]
    return span_of_parts(pieces, gaps, text, lead=masks_before[0], trail=masks) is not None


def quote_found(quote: str, text: str, start: int | None = None, end: int | None = None) -> bool:
    if start is not None and end is not None:
        if text[start:end] == quote:
            return True
        # first where the record says it stands (a masked quote is no exact slice), which
        # also keeps a source of a million separators from spending the search's budget
        window = (max(0, start - 200), min(len(text), end + 200))
        if 0 <= start <= end and quote_in(quote, _normalised(text[window[0] : window[1]])):
            return True
        if window == (0, len(text)):
            return False  # the window was the whole text: searched already
    return quote_in(quote, _normalised(text))


# A masked path is looked up part by part: a crafted record ("/[skjult]/[skjult]/…") must not
# walk the file system or hash a folder's every file.
MAX_MASKED_PARTS = 4
MAX_CANDIDATES = 50


def source_path(source: dict, root: Path | None = None) -> Path:
    """The file of a record's source (or span): at its recorded path, or by its name under
    `root`. A CPR number masked in the path ("…/borger_[skjult]/notat.txt") stands for any
    number there: the file is the one whose masked path is that; of several, the one with the
    recorded sha256, and none if none has it (never another citizen's file)."""
    if root is None:
        path = Path(str(source.get("path")))
    else:
        path = root / str(source.get("doc"))
        # A document name from the record never leads out of --root ("../../etc/passwd").
        if not path.resolve().is_relative_to(root.resolve()):
            return root / ".ragcli-outside-root"
    return _unmasked(_composed_alike(path), source.get("sha256"), root)


def _composed_alike(path: Path) -> Path:
    """`path`, or where it is missing, the file whose name differs from it only in how its
    letters are composed: a Mac writes "ö" as "o" and a combining mark (NFD), Linux keeps
    names as written, and both look like "Börnehave.pdf"."""
    import unicodedata

    if path.exists():
        return path
    for form in ("NFC", "NFD"):
        other = Path(unicodedata.normalize(form, str(path)))
        if other != path and other.exists():
            return other
    return path


def _unmasked(path: Path, sha256: object, root: Path | None = None) -> Path:
    import os

    from ragcli.privacy import mask_cpr

    shown = str(path)
    if MASK not in shown or shown.count(MASK) > MAX_MASKED_PARTS:
        return path
    candidates = [Path(path.parts[0])] if path.parts else [Path()]
    for part in path.parts[1:]:
        if MASK not in part:
            candidates = [c / part for c in candidates]
            continue
        # each "[skjult]" stands for exactly one CPR number, and nothing else does
        exact = re.compile("(.+?)".join(re.escape(piece) for piece in part.split(MASK)))
        grown = []
        for folder in candidates:
            try:
                names = os.listdir(folder)
            except OSError:
                continue
            for name in names:
                match = exact.fullmatch(name)
                if match and all(mask_cpr(number) == MASK for number in match.groups()):
                    grown.append(folder / name)
        candidates = sorted(grown)[:MAX_CANDIDATES]
    # a link named by a number inside --root still must not lead out of it
    found = [c for c in candidates if c.is_file() and (root is None or c.resolve().is_relative_to(root.resolve()))]
    if len(found) == 1:
        return found[0]  # the one file it can be: a changed hash is then reported as a change
    if isinstance(sha256, str):
        from ragcli.registry import sha256_file

        for candidate in found:
            try:
                if sha256_file(candidate) == sha256:
                    return candidate
            except OSError:
                continue
    return path


def verify_record(record: dict, root: Path | None = None) -> Verification:
    """Do the record's sources still hash the same, and do they still hold its quotes?

    Every source is read again (as ingest reads it) and every quote looked for at its place,
    also where the sha256 is unchanged: the same bytes hold the same text, but the record
    itself may have been edited since (a quote changed, or a path and hash pointed at
    another file), and "the quotes still stand" must have been checked to be said.

    root: look for the documents by name under this folder instead of at their recorded
    paths (a case file moved to another machine).
    """
    from ragcli.registry import sha256_file

    result = Verification()
    # A source is its name and its hash: two files whose names mask alike ("sag_[skjult].pdf",
    # two citizens' cases) are two sources, each span read from its own.
    texts: dict[tuple, str | None] = {}
    unchanged: set[tuple] = set()  # the same bytes as recorded

    located: dict[tuple, Path] = {}  # a masked path is looked for once, not again for its quotes

    def key(item: dict) -> tuple:
        return item.get("doc"), item.get("sha256")

    def where(source: dict) -> Path:
        if key(source) not in located:
            located[key(source)] = source_path(source, root)
        return located[key(source)]

    for source in record["sources"]:
        result.sources += 1
        path = where(source)
        doc = source.get("doc")
        if not path.is_file():
            result.changes.append(f"mangler: {doc} findes ikke længere ({path})")
            texts[key(source)] = None
            continue
        try:
            size = path.stat().st_size
            # another size is another file: said without hashing it (a 3 GB file took 10 s)
            digest = None if isinstance(source.get("size"), int) and size != source["size"] else sha256_file(path)
        except OSError as exc:
            result.changes.append(f"ulæselig: {doc} ({exc.strerror or exc})")
            texts[key(source)] = None
            continue
        if digest is None:
            result.changes.append(
                f"ændret: {doc} har ikke længere samme sha256 ({str(source.get('sha256'))[:12]}…; "
                f"størrelsen er {size:,} bytes, ikke {source['size']:,})"
            )
            continue
        if digest != source.get("sha256"):
            result.changes.append(f"ændret: {doc} har ikke længere samme sha256 ({str(source.get('sha256'))[:12]}… → {digest[:12]}…)")
        else:
            unchanged.add(key(source))
    for span in record["spans"]:
        result.quotes += 1
        doc = span.get("doc")
        if key(span) not in texts:
            source = next(
                (s for s in record["sources"] if key(s) == key(span)),
                {"doc": doc, "path": span.get("path"), "sha256": span.get("sha256")},
            )
            try:
                texts[key(span)] = document_text(where(source), doc)[0]
            except Exception as exc:  # noqa: BLE001 - an unreadable source is a finding, not a crash
                # The same bytes that a machine without OCR cannot read (a scan): the hash
                # vouches for the document, though its quotes go unread here.
                if key(span) not in unchanged:
                    result.changes.append(f"ulæselig: {doc} kan ikke læses ({str(exc).splitlines()[0][:120] if str(exc) else type(exc).__name__})")
                texts[key(span)] = None
        text = texts[key(span)]
        if text is None:  # gone or unreadable: already reported
            continue
        if not quote_found(span.get("quote", ""), text, span.get("char_start"), span.get("char_end")):
            quote = _normalised(span.get("quote", ""))
            shown = quote if len(quote) <= 80 else quote[:80].rsplit(" ", 1)[0] + " …"
            result.changes.append(f"citat væk: {doc}, {span.get('location', '')} indeholder ikke længere “{shown}”")
    return result
