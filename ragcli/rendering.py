"""Turning results into terminal output (rich) and JSON documents.

The render_* functions draw for people what ragcli.wire gives programs as JSON.
"""

from __future__ import annotations

from rich.console import Console
from rich.table import Table
from rich.text import Text

from ragcli import wire
from ragcli.cleaning import flatten
from ragcli.danish import is_refusal
from ragcli.ingest import IngestReport
from ragcli.schema import Answer, Hit
from ragcli.terminal import file_name, plain, printable


def _snippet(text: str, limit: int = 110) -> str:
    flat = flatten(text)
    return flat if len(flat) <= limit else flat[:limit].rsplit(" ", 1)[0] + " …"


# ---------------------------------------------------------------- JSON shapes

# The machine-readable shapes live in ragcli.wire (one definition for the CLI, batch and
# the server); these names stay for callers that import them from here.
answer_json = wire.answer
search_json = wire.search


# ---------------------------------------------------------------- terminal


def render_sources(console: Console, answer: Answer) -> None:
    table = Table(title="Kilder", title_justify="left", show_lines=False, expand=False)
    table.add_column("#", justify="right", style="bold")
    table.add_column("Fil", overflow="fold")
    table.add_column("Side", justify="right")
    table.add_column("Score", justify="right")
    table.add_column("Uddrag", overflow="fold")
    for c in answer.citations:
        style = None if c.cited else "dim"
        table.add_row(plain(f"[{c.number}]"), plain(file_name(c.doc)), c.pages, f"{c.score:.3f}", plain(c.snippet), style=style)
    console.print(table)


class DraftStream:
    """The model's words as they come, shown as a draft that gives way to the checked answer.

    On a terminal the draft streams in a transient region (the first token shows the model is
    at work) and disappears when the answer is decided; render_decision then prints what
    ragcli stands behind. A small model's draft is often wrong or copies the prompt's worked
    example ("… lørdag kl. 10-14"), so it is never left on screen as if it were the answer.
    Piped output gets no draft at all, only the decided answer.
    """

    def __init__(self, console: Console):
        self._console = console
        self._live = None
        self._text = Text("Modellen skriver: ", style="dim")

    def __enter__(self) -> DraftStream:
        return self

    def __call__(self, piece: str) -> None:
        if not piece or not self._console.is_terminal:
            return
        if self._live is None:  # from the first token on: retrieval time shows no draft
            from rich.live import Live

            self._live = Live(self._text, console=self._console, transient=True, refresh_per_second=12)
            self._live.__enter__()
        self._text.append(printable(piece), style="dim")
        self._live.update(self._text)

    def __exit__(self, *exc) -> None:
        if self._live is not None:
            self._live.__exit__(*exc)
            self._live = None


# danish.AnswerType as --explain says it
ANSWER_TYPE_NAMES = {"quantity": "en mængde eller et beløb", "number": "et tal", "time": "et tidspunkt eller en dato",
                     "name": "et navn", "any": "et hvilket som helst svar"}


def render_decision(console: Console, answer: Answer, explain: str = "--explain") -> None:
    """The answer ragcli stands behind, and, when it is not the model's own, why not.
    `explain`: how to see the model's draft where this is shown (chat's is /explain)."""
    console.print(Text.assemble(("Svar: ", "bold"), plain(answer.text)))
    refusal = not answer.raw_answer or is_refusal(answer.raw_answer)
    if answer.decision == "extracted":
        if answer.model_agreed:
            console.print(plain(
                "(Modellens svar siger det samme som kilden; sætningen ovenfor er kildens egen ordlyd. "
                "--model-answers viser modellens formulering.)", style="dim",
            ))
        elif refusal:
            console.print(plain("(Modellen fandt ikke svaret; sætningen ovenfor er kildens egen og svarer på spørgsmålet.)", style="dim"))
        else:
            console.print(plain(
                "(Modellens eget svar kunne ikke underbygges af kilderne; sætningen ovenfor er kildens egen. "
                f"{explain} viser modellens udkast.)", style="dim",
            ))
    elif answer.decision == "refused" and answer.hits:
        if not refusal:
            console.print(plain(
                "(Modellens svar kunne ikke underbygges af kilderne, og ingen kildesætning svarer på spørgsmålet. "
                f"{explain} viser modellens udkast.)", style="dim",
            ))
        best = answer.grounding.get("source") or 1
        order = [best] + [n for n in range(1, len(answer.hits) + 1) if n != best]
        console.print(plain("Nærmeste passager:", style="dim"))
        for n in order[:3]:
            hit = answer.hits[n - 1]
            console.print(plain(f"  [{n}] {file_name(hit.chunk.doc)}, s. {hit.chunk.pages}: “{_snippet(hit.chunk.text, 160)}”", style="dim"))
        # A CPR number of the question is looked for as asked, and named here masked.
        terms = dict.fromkeys("CPR-nummeret [skjult]" if t == "[skjult]" else t for t in answer.grounding.get("missing", [])[:6])
        missing = ", ".join(terms)
        if missing:
            console.print(plain(f"Ikke fundet i kilderne: {missing}", style="dim"))
    for flag in answer.flags:
        where = f" (kilde [{flag['source']}])" if flag.get("source") else ""
        console.print(plain(f"⛨ {flag['rule']}{where}: {flag['message']}", style="magenta"))


def render_answer_check(console: Console, answer: Answer) -> None:
    """Under a streamed answer: which sentences the sources do not support, and the evidence."""
    if answer.refused:
        return
    unsupported = [s for s in answer.sentences if not s.supported]
    for sentence in unsupported:
        console.print(plain(f"⚠ Ikke understøttet af kilderne: {sentence.text}", style="yellow"))
    # A quote is the source's own text under one marker: ragcli attached no source to it.
    attached = [s for s in answer.sentences if s.attached] if answer.decision != "extracted" else []
    for sentence in attached:
        marks = ", ".join(f"[{n}]" for n in sentence.attached)
        console.print(plain(f"↳ Kilde tilføjet af ragcli {marks}: {_snippet(sentence.text, 80)}", style="dim"))
    if answer.evidence:
        console.print(plain("Belæg:", style="bold"))
        for ev in answer.evidence:
            console.print(plain(f"  [{ev['source']}] {file_name(ev['doc'])}, s. {ev['pages']}: “{_snippet(ev['quote'], 200)}”"))


def render_hits(console: Console, hits: list[Hit], mode: str) -> None:
    table = Table(title=f"Resultater ({mode})", title_justify="left")
    table.add_column("#", justify="right", style="bold")
    table.add_column("Fil", overflow="fold")
    table.add_column("Side", justify="right")
    table.add_column("Score", justify="right")
    table.add_column("Dense", justify="right")
    table.add_column("BM25", justify="right")
    table.add_column("Uddrag", overflow="fold")
    for rank, hit in enumerate(hits, start=1):
        table.add_row(
            str(rank),
            plain(file_name(hit.chunk.doc)),
            hit.chunk.pages,
            "kodeliste" if hit.found_by == "code_list" else f"{hit.score:.4f}",
            "" if hit.dense_score is None else f"{hit.dense_score:.3f} (#{hit.dense_rank})",
            "" if hit.lexical_score is None else f"{hit.lexical_score:.2f} (#{hit.lexical_rank})",
            plain(_snippet(hit.chunk.text)),
        )
    console.print(table)


def render_info(console: Console, info: dict, name: str) -> None:
    """`name`: the index as it was opened (a copied index's manifest still names the original)."""
    manifest = info["manifest"]
    counts = manifest["counts"]
    console.print(plain(f"Indeks {name!r}  ({info['path']})", style="bold"))
    console.print(
        plain(
            f"Dokumenter: {counts['documents']}   Sider: {counts['pages']}   Stykker: {counts['chunks']}   "
            f"Tokens: {counts['tokens']}"
        )
    )
    emb = manifest["embedding"]
    console.print(plain(f"Embedding: {emb['model']} (dim {emb['dim']}, normaliseret: {emb.get('normalized')})"))
    ch = manifest["chunking"]
    console.print(plain(f"Opdeling: højst {ch['max_tokens']} tokens, overlap {ch['overlap_tokens']}"))
    console.print(plain(f"Skema v{manifest['schema_version']}, {manifest['generation']}, opdateret {manifest.get('updated')}"))
    table = Table(title="Dokumenter", title_justify="left")
    table.add_column("Fil", overflow="fold")
    table.add_column("Titel", overflow="fold")
    table.add_column("Sider", justify="right")
    table.add_column("Stykker", justify="right")
    for doc in info["documents"]:
        table.add_row(plain(file_name(doc["name"])), plain(_snippet(doc["title"], 60)), str(doc["pages"]), str(doc["chunks"]))
    console.print(table)


def render_ingest(console: Console, report: IngestReport) -> None:
    console.print(
        plain(
        f"Indeks {report.index!r}: {report.documents} dokumenter, {report.pages} sider, {report.chunks} stykker "
        f"— {len(report.added)} nye, {len(report.updated)} ændrede, {len(report.unchanged)} uændrede, "
        f"{len(report.removed)} fjernet på {report.seconds:.1f} s"
        + (f" ({report.chunks_per_second:.1f} stykker/s embedding)" if report.embedded_chunks else "")
        )
    )
    for title, heading, rows in (
        ("Sprunget over", "Grund", [(s.doc, s.reason) for s in report.skipped]),
        ("Læst, men ikke helt", "Bemærkning", [(n.doc, n.note) for n in report.notes]),
    ):
        if rows:
            table = Table(title=title, title_justify="left")
            table.add_column("Fil", overflow="fold")
            table.add_column(heading, overflow="fold")
            for doc, text in rows:
                table.add_row(plain(file_name(doc)), plain(text))
            console.print(table)
    if report.ignored:
        kinds = ", ".join(f"{count} {plain(suffix)}" for suffix, count in report.ignored.items())
        console.print(plain(f"Ikke læst (typer ragcli ikke læser): {kinds}"))


def render_eval(console: Console, report: dict) -> None:
    summary = report["summary"]
    table = Table(
        title=f"Retrieval på {report['index']} ({report['mode']}, {report['embedding_model']})", title_justify="left"
    )
    for col in ("rækker", "n", "hit@1", "hit@5", "hit@10", "doc hit@5", "MRR@10"):
        table.add_column(col, justify="right" if col != "rækker" else "left")

    def row(label: str, m: dict) -> None:
        table.add_row(
            plain(label), str(m["n"]), f"{m['hit@1']:.2f}", f"{m['hit@5']:.2f}", f"{m['hit@10']:.2f}",
            f"{m['doc_hit@5']:.2f}", f"{m['mrr@10']:.3f}",
        )

    row("alle besvarlige", summary["answerable"])
    for kind, m in summary["by_kind"].items():
        row(f"  {kind}", m)
    console.print(table)
    if "multi_hop_all_hops@10" in summary:
        console.print(plain(f"multi-hop, alle trin fundet i top 10: {summary['multi_hop_all_hops@10']:.2f}"))
    latency = summary["latency_ms"]
    console.print(plain(f"Svartid: p50 {latency['p50']:.1f} ms, p95 {latency['p95']:.1f} ms"))
    if summary["unanswerable"]:
        console.print("Ubesvarlige spørgsmål (topscore: fused / dense / lexical):")
        for u in summary["unanswerable"]:
            parts = [f"{u[key]:.3f}" if u[key] is not None else "–" for key in ("top_score", "top_dense", "top_lexical")]
            console.print(plain(f"  {u['id']}: {' / '.join(parts)}  {u['question']}"))


def render_explain(console: Console, answer: Answer) -> None:
    """The RAG steps, as a reader of a GenAI explainer would want to see them."""
    from rich.rule import Rule as Line

    console.print(Line("1 · Spørgsmål", align="left"))
    console.print(plain(answer.question))
    console.print(Line("2 · Hentede passager (retrieval)", align="left"))
    trace = answer.retrieval_trace
    fused = "rrf_k" in trace
    if fused:
        console.print(
            plain(
                f"Fusion: RRF k={trace.get('rrf_k')}, vægt dense {trace.get('dense_weight')}, "
                f"vægt BM25 {trace.get('lexical_weight')} (BM25-sikkerhed {trace.get('lexical_confidence', '–')})",
                style="dim",
            )
        )
    if trace.get("code_list"):
        # the last passage was looked up in a code list, not ranked by the search
        console.print(plain(f"Kodeliste slået op: {trace['code_list']} (markeret \"kodeliste\")", style="dim"))
    render_hits(console, answer.hits, trace.get("mode") or ("hybrid" if fused else "?"))
    console.print(Line("3 · Dækker kilderne spørgsmålet?", align="left"))
    g = answer.grounding
    console.print(
        plain(
            f"Spørgsmålets nøgleord: {', '.join(g.get('terms', []))}\n"
            f"Bedste kilde: [{g.get('source')}], dækning {g.get('coverage')} "
            f"(mangler: {', '.join(g.get('missing', [])) or 'intet'}"
            + (f"; tal der mangler: {', '.join(g['missing_numbers'])}" if g.get("missing_numbers") else "")
            + ")"
        )
    )
    if answer.grounding.get("answer_type"):
        kind = answer.grounding["answer_type"]  # the JSON keeps the English name; the user reads Danish
        console.print(plain(f"Spørgsmålet beder om: {ANSWER_TYPE_NAMES.get(kind, kind)} ({kind})", style="dim"))
    for window in answer.windows:
        spans = ", ".join(f"{a}–{b}" for a, b in window["spans"])
        console.print(plain(f"Evidensvindue [{window['source']}]: tegn {spans} af passagen (dækning {window['score']})", style="dim"))
    flagged = [f for f in answer.flags if f["where"] == "passage"]
    for flag in flagged:
        console.print(plain(f"⛨ Kilde [{flag['source']}]: {flag['message']}: “{flag['match']}”", style="magenta"))
    sent = "generate_s" in answer.timings  # refused before the model (coverage, a guardrail): never sent
    console.print(Line(
        f"4 · Prompt ({answer.prompt_tokens} tokens, temperatur {answer.temperature})"
        + ("" if sent else " — ikke sendt til modellen"),
        align="left",
    ))
    console.print(plain(answer.prompt, style="dim"))
    console.print(Line("5 · Modellens rå svar", align="left"))
    console.print(plain(answer.raw_answer or "(modellen blev ikke spurgt: kilderne dækker ikke spørgsmålet)"))
    console.print(Line(f"6 · Verifikation → beslutning: {answer.decision}", align="left"))
    for s in answer.sentences:
        mark = "✓" if s.supported else "⚠"
        cites = ",".join(str(n) for n in s.cites) or "–"
        added = f" +{','.join(str(n) for n in s.attached)}" if s.attached else ""
        notes = (f"; mangler i kilden: {', '.join(s.missing)}" if s.missing else "") + ("" if s.informative else "; siger intet nyt")
        console.print(plain(f"{mark} støtte {s.support:.2f} kilder [{cites}]{added}{notes}: {s.text}"))


def render_answer_eval(console: Console, report: dict) -> None:
    """The answer-step measures, overall and per kind of question."""
    table = Table(title=f"Svar på {report['index']} ({report['model']}, {report['mode']}, k={report['k']})", title_justify="left")
    columns = (
        "rækker", "n", "recall", "≥½", "answered", "extracted", "ubesv. afvist", "besv. afvist", "kilde på guldside",
        "1. token p50/p95", "i alt p50/p95",
    )
    for col in columns:
        table.add_column(col, justify="left" if col == "rækker" else "right")

    def fmt(value) -> str:
        return "–" if value is None else f"{value:.2f}"

    def precision(d: dict) -> str:
        return f"{d['good']}/{d['n']}" + (f" ({d['precision']:.2f})" if d["n"] else "")

    def row(label: str, m: dict) -> None:
        table.add_row(
            label, str(m["n"]), fmt(m["token_recall"]), fmt(m["good_share"]), precision(m["answered"]),
            precision(m["extracted"]), fmt(m["unanswerable_refused"]), fmt(m["answerable_refused"]), fmt(m["cited_on_gold"]),
            f"{fmt(m['first_token_s']['p50'])}/{fmt(m['first_token_s']['p95'])} s", f"{fmt(m['total_s']['p50'])}/{fmt(m['total_s']['p95'])} s",
        )

    row("alle", report["summary"])
    for kind, m in report["by_kind"].items():
        row(f"  {kind}", m)
    console.print(table)
