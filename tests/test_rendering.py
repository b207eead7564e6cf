"""What a person sees of an answer: the decided answer first, the model's draft only while it streams."""

from __future__ import annotations

import io
from dataclasses import replace

from ragcli.rendering import DraftStream, render_answer_check, render_decision
from ragcli.schema import Answer, Chunk, Citation, Hit, Sentence
from ragcli.terminal import SafeConsole

QUOTE = "En almindelig skoledag starter kl. 8.00 for alle elever."
DRAFT = "Fjordby Kommune har åbent lørdag kl. 10-14 [2]."  # the worked example, copied


def _answer(decision: str, text: str, raw: str) -> Answer:
    chunk = Chunk("skole.pdf", "Skolestart", 1, 1, 0, len(QUOTE), QUOTE, 12, 1)
    return Answer(
        question="Hvornår starter skoledagen?", text=text, refused=decision == "refused",
        citations=[Citation(1, "skole.pdf", "1", 1, 1, 0.5, QUOTE, decision != "refused")],
        sentences=[Sentence(f"{QUOTE} [1]", [1], [1], True, 1.0)] if decision != "refused" else [],
        hits=[Hit(chunk, 0.5, 0.8, 3.0, 1, 1)], model="m", prompt="p", prompt_tokens=1,
        decision=decision, raw_answer=raw, grounding={"source": 1, "missing": ["koster"]},
    )


def _shown(answer: Answer) -> str:
    out = io.StringIO()
    render_decision(SafeConsole(file=out, width=300), answer)
    return out.getvalue()


def test_the_decided_answer_comes_first_and_a_failed_draft_is_not_shown_as_an_answer():
    shown = _shown(_answer("extracted", f"{QUOTE} [1]", DRAFT))
    first, second = shown.splitlines()[:2]
    assert first == f"Svar: {QUOTE} [1]"
    assert "lørdag" not in shown  # the unsupported draft is only in --explain and raw_answer
    assert "kunne ikke underbygges" in second and "--explain" in second


def test_a_quote_of_two_sentences_is_not_said_to_have_a_source_attached_by_ragcli():
    # "A. B. [1]": the marker follows the last sentence, so the first is checked as one whose
    # source ragcli attached; for a model's answer that is worth saying, for a quote it is not
    two = [Sentence("Skolen ligger i Fjordby.", [], [1], True, 1.0), Sentence(f"{QUOTE} [1]", [1], [], True, 1.0)]
    for decision, noted in (("extracted", False), ("answered", True)):
        answer = replace(_answer(decision, f"Skolen ligger i Fjordby. {QUOTE} [1]", DRAFT), sentences=two)
        out = io.StringIO()
        render_answer_check(SafeConsole(file=out, width=300), answer)
        assert ("Kilde tilføjet af ragcli" in out.getvalue()) is noted, decision


def test_a_refusal_says_so_first_then_the_closest_passages():
    shown = _shown(_answer("refused", "Det fremgår ikke af dokumenterne.", DRAFT))
    lines = shown.splitlines()
    assert lines[0] == "Svar: Det fremgår ikke af dokumenterne."
    assert "lørdag" not in shown and "Nærmeste passager:" in shown and "skole.pdf" in shown


def test_an_answer_the_model_got_right_is_printed_once_without_a_note():
    shown = _shown(_answer("answered", f"{QUOTE} [1]", f"{QUOTE} [1]"))
    assert shown.splitlines() == [f"Svar: {QUOTE} [1]"]


def test_the_draft_streams_on_a_terminal_and_never_into_a_pipe():
    piped = io.StringIO()
    with DraftStream(SafeConsole(file=piped, width=100)) as draft:
        draft("Fjordby ")
        draft("Kommune")
    assert piped.getvalue() == ""

    terminal = io.StringIO()
    with DraftStream(SafeConsole(file=terminal, width=100, force_terminal=True)) as draft:
        draft("Fjordby ")
        draft("Kommune\x1b[2J")  # a copied escape sequence is shown escaped, never executed
    written = terminal.getvalue()
    assert "Modellen skriver:" in written and "Kommune" in written
    assert "\x1b[2J" not in written
    assert written.endswith("\x1b[1A\x1b[2K")  # the draft's line is erased when the answer is decided


def test_the_ingest_summary_names_what_it_left_out():
    from rich.console import Console

    from ragcli.ingest import IngestReport, Note, Skipped
    from ragcli.rendering import render_ingest

    console = Console(width=120, record=True)
    render_ingest(console, IngestReport(
        index="x", folder="f", skipped=[Skipped("a.pdf", "encrypted PDF")],
        notes=[Note("brev.eml", "bilag ansøgning.docx er ikke læst: encrypted")], ignored={".doc": 1, ".xlsx": 3},
    ))
    text = console.export_text()
    assert "Sprunget over" in text and "encrypted PDF" in text
    assert "Læst, men ikke helt" in text and "bilag ansøgning.docx er ikke læst" in text
    assert "Ikke læst (typer ragcli ikke læser): 1 .doc, 3 .xlsx" in text


def test_explain_says_when_the_prompt_was_never_sent():
    """Step 4 had shown the prompt as if the model read it, for a question refused before it."""
    from dataclasses import replace

    from ragcli.rendering import render_explain

    def step4(answer: Answer) -> str:
        out = io.StringIO()
        render_explain(SafeConsole(file=out, width=300), answer)
        return next(line for line in out.getvalue().splitlines() if "4 · Prompt" in line)

    refused = _answer("refused", "Det fremgår ikke af dokumenterne.", "")
    assert "ikke sendt til modellen" in step4(refused)
    asked = replace(_answer("extracted", f"{QUOTE} [1]", DRAFT), timings={"generate_s": 0.8})
    assert "ikke sendt" not in step4(asked)
