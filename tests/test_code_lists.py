"""Code lists: a question about a code, or about which code a thing has, is answered by the
list's row (hand-made passages as pdfium lays GeoFA's lists out; no models)."""

from __future__ import annotations

from ragcli.code_lists import asked_field, code_row, rows
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
    # not a code list: a protocol's status code, a bare "kode" with nothing to look it up by, a verb
    assert asked_field("Hvilken HTTP-statuskode sender serveren?") is None
    assert asked_field("Hvilken kode har kæmpe-bjørneklo?") is None
    assert asked_field("Hvilken værdi skal claimet hardkodes til?") is None


def test_rows_run_from_the_header_and_wrap_over_lines():
    found = rows(FUNCTION_STATUS, 1)
    assert [(r.field, r.code) for r in found][:3] == [("funktionsstatus", "1"), ("funktionsstatus", "2"), ("funktionsstatus", "3")]
    staten = next(r for r in found if r.code == "80")
    assert staten.field == "ejerstatus"
    assert staten.text == "80 Staten 1 Staten eller en myndighed under staten f.eks. Naturstyrelsen"
    assert FUNCTION_STATUS[staten.start : staten.end].startswith("80 Staten")


def test_what_a_code_stands_for_is_its_row_in_the_list_the_question_names():
    assert _row("Hvad betyder funktionsstatus-kode 4 for en brandhane?").text.startswith("4 Midlertidig lukket")
    assert _row("Hvilken type ejer dækker ejerstatuskode 41 i GeoFA?").text == "41 Private andelsboligforeninger 1"
    # a code the list lacks finds nothing, though another list has it or a neighbour
    assert _row("Hvad betyder funktionsstatus-kode 7?") is None
    assert _row("Hvilken type ejer dækker ejerstatuskode 42?") is None
    assert _row("Hvad betyder ejerstatuskode 3?") is None


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
