"""Code lists: a question about a code, or about which code a thing has, is answered by the
list's row (hand-made passages as pdfium lays GeoFA's lists out; no models)."""

from __future__ import annotations

from dataclasses import replace

from ragcli.code_lists import asked_field, code_row, look_up, rows
from ragcli.danish import answer_type
from ragcli.evidence import extract_answer
from ragcli.grounding import measure_grounding
from ragcli.schema import Chunk, Hit

FUNCTION_STATUS = (
    "4.3.15 Funktionsstatus (d_basis_funktionsstatus)\n"
    "funktionsstatus_kode funktionsstatus aktiv Begrebsdefinition\n"
    "1 Planlagt 1 Planlagt etableret\n"
    "2 Under anlæg 1 Under anlæg\n"
    "3 Aktiv 1 I drift\n"
    "4 Midlertidig lukket 1 Midlertidigt lukket/ude af drift\n"
    "5 Lukket 1 Lukket\n"
    "8 Andet 1 Anden\n"
    "9 Ukendt 1 Mangler viden\n"
    "4.3.16 Ejerstatus (d_basis_ejerstatus)\n"
    "ejerstatus_kode ejerstatus aktiv Begrebsdefinition\n"
    "10 Privatpersoner, inkl. I/S 1 Person, firma, forening m.v.\n"
    "40 Forening, Legater og Institutioner 1\n"
    "41 Private andelsboligforeninger 1\n"
    "80 Staten 1 Staten eller en myndighed under\n"
    "staten f.eks. Naturstyrelsen\n"
)


def _hit(text: str) -> Hit:
    chunk = Chunk(doc="geofa.pdf", title="", page_start=38, page_end=38, char_start=0, char_end=len(text), text=text, n_tokens=200)
    return Hit(chunk=chunk, score=0.5)


def _row(question: str, text: str = FUNCTION_STATUS):
    hits = [_hit(text)]
    return code_row(question, hits, measure_grounding(question, hits, lambda term: 1, 100).weights)


def test_a_question_names_a_lists_field_and_maybe_a_code():
    assert asked_field("Hvad betyder off_kode 2 i GeoFA?") == ("off", "2")
    assert asked_field("Hvad dækker hastighedskoden 15 over?") == ("hastigheds", "15")
    assert asked_field("… står med funktionsstatus-kode 7. Hvad betyder den?") == ("funktionsstatus", "7")
    assert asked_field("En brandhane er ude af drift. Hvilken funktionsstatuskode skal den have?") == ("funktionsstatus", None)
    assert asked_field("Hvilken trussel har kode 10 i kodelisten Trussel_vand?") == ("", "10")
    # not a code list: a protocol's status code, a password, an error code, a bare "kode" with
    # nothing to look it up by, a verb
    assert asked_field("Hvilken HTTP-statuskode sender serveren?") is None
    assert asked_field("Hvor finder jeg adgangskoden til portalen?") is None
    assert asked_field("Hvad betyder fejlkode 500?") is None
    assert asked_field("Hvilken kode har kæmpe-bjørneklo?") is None
    assert asked_field("Hvilken værdi skal claimet hardkodes til?") is None


def test_rows_run_from_the_header_and_wrap_over_lines():
    found = rows(FUNCTION_STATUS, 1)
    assert [(r.field, r.code) for r in found][:3] == [("funktionsstatus", "1"), ("funktionsstatus", "2"), ("funktionsstatus", "3")]
    staten = next(r for r in found if r.code == "80")
    assert staten.field == "ejerstatus"
    assert staten.text == "80 Staten 1 Staten eller en myndighed under staten f.eks. Naturstyrelsen"
    assert FUNCTION_STATUS[staten.start : staten.end] == "80 Staten 1 Staten eller en myndighed under\nstaten f.eks. Naturstyrelsen"


def test_what_a_code_stands_for_is_its_row_in_the_list_the_question_names():
    assert _row("Hvad betyder funktionsstatus-kode 4 for en brandhane?").text.startswith("4 Midlertidig lukket")
    assert _row("Hvilken type ejer dækker ejerstatuskode 41 i GeoFA?").text == "41 Private andelsboligforeninger 1"
    # a code the list lacks finds nothing, though another list has it or a neighbour
    assert _row("Hvad betyder funktionsstatus-kode 7?") is None
    assert _row("Hvilken type ejer dækker ejerstatuskode 42?") is None
    assert _row("Hvad betyder ejerstatuskode 3?") is None
    # the row says what a code is, not who, why or when
    assert _row("Hvem har ansvaret for at opdatere ejerstatuskode 80?") is None
    assert _row("Hvorfor blev ejerstatuskode 41 oprettet?") is None
    # the list of the very name the question gives comes before one whose name begins the same
    other = "funktion_kode funktion aktiv Begrebsdefinition\n3 Brønd 1 Brandbrønd\n4 Hane 1 Brandhane\n"
    assert _row("Hvad betyder funktionsstatuskode 3?", other + FUNCTION_STATUS).text == "3 Aktiv 1 I drift"


def test_which_code_a_thing_has_is_the_row_that_names_it():
    row = _row("En brandhane er midlertidigt ude af drift. Hvilken funktionsstatuskode skal den have?")
    assert row.code == "4"
    assert _row("Et grønt areal ejes af en privat andelsboligforening. Hvilken ejerstatuskode skal det have?").code == "41"
    # a thing no row names, or a number no row holds, finds nothing
    assert _row("Hvilken funktionsstatuskode har en nedrevet brandhane?") is None
    assert _row("Hvilken funktionsstatuskode har en brandhane, der har været lukket i 100 dage?") is None


def test_the_row_is_quoted_though_it_shares_little_with_the_question():
    question = "Et grønt areal ejes af en privat andelsboligforening. Hvilken ejerstatuskode skal det registreres med?"
    hits = [_hit(FUNCTION_STATUS)]
    weights = measure_grounding(question, hits, lambda term: 1, 100).weights
    quote = extract_answer(question, answer_type(question), hits, weights)
    assert quote is not None and quote.text == "41 Private andelsboligforeninger 1"
    assert FUNCTION_STATUS[quote.start : quote.end] == quote.text
    # a passage flagged as prompt injection is data, never an answer
    assert code_row(question, hits, weights, tainted={1}) is None


def _chunk(text: str, start: int, chunk_id: int) -> Chunk:
    return Chunk(doc="geofa.pdf", title="", page_start=40 + chunk_id, page_end=40 + chunk_id, char_start=start,
                 char_end=start + len(text), text=text, n_tokens=100, chunk_id=chunk_id)


def test_a_list_missed_by_retrieval_is_looked_up_by_its_header_and_read_on_from_the_passage_before():
    # the header sits in one passage, the asked row in the next (they overlap by one row), and
    # neither shares a word with the question but the thing itself
    document = (
        "4.3.9 Invasive arter (d_basis_invasivart)\n"
        "invasivart_kode ia_dansknavn ia_latinsknavn ia_rige aktiv\n"
        "1140 Mink Mustela vison Dyreriget 1\n"
        "1150 Mårhund Nyctereutes procyonoides Dyreriget 1\n"
        "1160 Nilgås Alopochen aegyptiacus Dyreriget 1\n"
    )
    cut = document.index("1150")
    overlap = document.index("1140")
    chunks = {7: _chunk(document[:cut], 0, 7), 8: _chunk(document[overlap:], overlap, 8),
              3: _chunk("Vejledning om registrering af arter i kommunen.", 0, 3)}
    searched = []

    def search(query: str, k: int) -> list[tuple[int, float]]:
        searched.append(query)
        return [(3, 2.0), (8, 1.5)]

    question = "Vi har set en mårhund i kommunen. Hvilken artskode skal den have i GeoFA?"
    weights = measure_grounding(question, [], lambda term: 1, 100).weights
    found = look_up(question, weights, search, lambda ids: {i: chunks[i] for i in ids if i in chunks})
    assert found is not None and "arts_kode" in searched[0]
    assert found.chunk.text == document and found.chunk.chunk_id == -1  # the two passages as one
    row = code_row(question, [found], weights)
    assert row.code == "1150" and found.chunk.text[row.start : row.end] == row.text
    # a thing the list does not name is looked up in vain
    nothing = "Vi har set en vaskebjørn. Hvilken artskode skal den have i GeoFA?"
    assert look_up(nothing, measure_grounding(nothing, [], lambda term: 1, 100).weights, search,
                   lambda ids: {i: chunks[i] for i in ids if i in chunks}) is None


def test_the_ask_pipeline_looks_the_list_up_and_quotes_the_row(tmp_path, minilm, llm_path):
    # A real index of a specification whose prose about fire hydrants outranks its code list
    # for the question; with one passage retrieved, the list comes in by the lookup.
    from ragcli.answering import AskParams, _with_code_list, answer_question
    from ragcli.generation import LlamaBackend
    from ragcli.grounding import question_weights
    from ragcli.ingest import default_chunking, ingest_folder
    from ragcli.retrieval import RetrievalParams, retrieve
    from ragcli.store import Index

    prose = " ".join(
        f"Afsnit {n}: En brandhane, der midlertidigt er ude af drift, skal have den rigtige funktionsstatuskode, "
        f"og brandhanen skal meldes til beredskabet." for n in range(1, 60)
    )
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "specifikation.txt").write_text(prose + "\n\n" + FUNCTION_STATUS, encoding="utf-8")
    ingest_folder(docs, tmp_path / "idx", minilm, default_chunking(minilm))
    question = "En brandhane er midlertidigt ude af drift. Hvilken funktionsstatuskode skal den have?"
    params = AskParams(retrieval=RetrievalParams(k=2))
    with Index(tmp_path / "idx") as index:
        trace: dict = {}
        prose_hits = retrieve(index, "Afsnit 3 brandhane kontrolleres", replace(params.retrieval, k=1), minilm)
        weights = question_weights(question, index.lexical.document_frequency, len(index.lexical))
        looked_up = _with_code_list(question, prose_hits, index, weights, 2, trace)
        assert len(looked_up) == 2 and looked_up[0] is prose_hits[0]
        assert "4 Midlertidig lukket" in looked_up[1].chunk.text and looked_up[1].found_by == "code_list"
        assert trace["code_list"].startswith("specifikation.txt")
        # never more passages than asked for, and one asked for gets no lookup
        assert len(_with_code_list(question, [*prose_hits, *prose_hits], index, weights, 2, {})) == 2
        assert _with_code_list(question, prose_hits, index, weights, 1, {}) == prose_hits
        answer = answer_question(question, index, minilm, LlamaBackend(llm_path, n_ctx=2048), params)
    assert not answer.refused
    assert answer.text.startswith("4 Midlertidig lukket 1 Midlertidigt lukket/ude af drift")
    # retrieval ranked two passages of prose first: the list came in by the lookup
    assert answer.retrieval_trace["code_list"].startswith("specifikation.txt")
    assert [h.found_by for h in answer.hits] == ["search", "code_list"]
