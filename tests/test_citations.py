"""Citation parsing and verification on hand-written answers."""

from __future__ import annotations

from ragcli.citations import best_evidence, check_answer, make_citations, parse_markers, strip_markers
from ragcli.schema import Chunk, Hit


def _hit(doc: str, page: int, text: str, score: float = 0.5) -> Hit:
    chunk = Chunk(doc=doc, title=doc, page_start=page, page_end=page, char_start=0, char_end=len(text), text=text, n_tokens=20)
    return Hit(chunk=chunk, score=score)


HITS = [
    _hit("skole.pdf", 3, "Skoledagen starter kl. 8.00 for alle elever. Eleverne har frikvarter kl. 10."),
    _hit("affald.pdf", 7, "Madaffald sorteres i den grønne spand, som tømmes hver 14. dag."),
]


def test_marker_forms():
    assert parse_markers("Svar [1]. Mere [2, 3] og [1-3] og [5;4].") == [1, 2, 3, 5, 4]
    assert parse_markers("Ingen kilder her (1) eller [a].") == []
    assert strip_markers("Skoledagen starter kl. 8 [1].") == "Skoledagen starter kl. 8."


def test_supported_sentence_with_right_marker():
    [sentence] = check_answer("Skoledagen starter kl. 8.00 for alle elever [1].", HITS)
    assert sentence.cites == [1] and sentence.supported and sentence.attached == []


def test_wrong_marker_gets_the_right_source_attached():
    [sentence] = check_answer("Madaffald sorteres i den grønne spand [1].", HITS)
    assert sentence.cites == [1]
    assert sentence.attached == [2]
    assert sentence.supported


def test_wrong_number_is_unsupported():
    # The source says every 14th day; a claim of every 7th day must not pass.
    [sentence] = check_answer("Den grønne spand tømmes hver 7. dag [2].", HITS)
    assert not sentence.supported and sentence.support == 0.0


def test_invented_claim_is_unsupported():
    [sentence] = check_answer("Forældre får ti ugers orlov med fuld løn [1].", HITS)
    assert not sentence.supported


def test_no_marker_gets_the_supporting_source_attached():
    [sentence] = check_answer("Madaffald sorteres i den grønne spand.", HITS)
    assert sentence.cites == [] and sentence.attached == [2] and sentence.supported


def test_marker_beyond_the_sources_is_not_supported():
    [sentence] = check_answer("Skoledagen starter kl. 8.00 [7].", HITS)
    assert sentence.cites == [7]
    assert not sentence.supported  # [7] points at nothing, even though source 1 supports it
    assert sentence.attached == [1]


def test_citations_and_evidence_point_at_used_sources():
    sentences = check_answer("Skoledagen starter kl. 8.00 [1].", HITS)
    citations = make_citations(HITS, sentences)
    assert [(c.number, c.doc, c.pages, c.cited) for c in citations] == [(1, "skole.pdf", "3", True), (2, "affald.pdf", "7", False)]
    evidence = best_evidence("Skoledagen starter kl. 8.00 [1].", HITS, sentences)
    assert evidence[0]["doc"] == "skole.pdf" and evidence[0]["quote"].startswith("Skoledagen starter")


def test_refusal_is_not_checked_as_a_claim():
    [sentence] = check_answer("Det fremgår ikke af dokumenterne.", HITS)
    assert sentence.supported and sentence.cites == []
