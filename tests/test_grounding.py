"""Question coverage: the evidence behind refusing."""

from __future__ import annotations

from ragcli.grounding import measure_grounding, question_terms
from ragcli.schema import Chunk, Hit


def _hit(text: str) -> Hit:
    return Hit(Chunk("d.pdf", "d", 1, 1, 0, len(text), text, 10), score=1.0)


# Document frequencies in an imagined index of 100 chunks: "kommun" is everywhere, names are rare.
DF = {"kommun": 90, "skoledag": 5, "start": 30, "fjordby": 3, "ansat": 20, "digitaliseringsstyrels": 4, "stort": 25, "areal": 10}


def df(term: str) -> int:
    return DF.get(term, 0)


def test_question_words_are_not_content():
    assert question_terms("Hvornår starter skoledagen i Fjordby Kommune?") == ["start", "skoledag", "fjordby", "kommun"]
    # what the document does with the fact ("opregner", "omtaler") is not the fact: the answer
    # "Fire almindelige former for GenAI er …" never says "opregner"
    assert question_terms("Hvor mange former for AI opregner Dataetisk Råd?") == ["form", "ai", "dataetisk", "råd"]
    assert "omtal" not in question_terms("Hvilke modeller omtaler rådet?")


def test_best_passage_covers_the_specific_terms():
    hits = [_hit("Kommunen har mange tilbud."), _hit("Skoledagen starter kl. 8 i Fjordby Kommune.")]
    grounding = measure_grounding("Hvornår starter skoledagen i Fjordby Kommune?", hits, df, 100)
    assert grounding.source == 2 and grounding.coverage == 1.0 and grounding.grounded(0.5)


def test_near_miss_is_not_grounded():
    # On topic (the agency is named) but nothing about employees: the rare, specific term is missing.
    hits = [_hit("Digitaliseringsstyrelsen udgiver referencearkitekturer for hele den offentlige sektor.")]
    grounding = measure_grounding("Hvor mange ansatte har Digitaliseringsstyrelsen?", hits, df, 100)
    assert grounding.missing == ["ansat"]
    assert 0 < grounding.coverage < 1


def test_numbers_in_the_question_must_appear():
    hits = [_hit("Byrådet holdt møde den 27. august 2025.")]
    grounding = measure_grounding("Hvad besluttede byrådet den 3. september 2025?", hits, df, 100)
    assert grounding.missing_numbers == ["3"]
    assert not grounding.grounded(0.0)


def test_unknown_terms_weigh_most():
    hits = [_hit("Kommunen har et stort areal.")]
    grounding = measure_grounding("Hvor stort er naturnationalparkens areal i kommunen?", hits, df, 100)
    assert grounding.weights["naturnationalpark"] > grounding.weights["kommun"]
    assert grounding.coverage < 0.5
