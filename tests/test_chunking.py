"""Chunking real documents with the embedding model's own tokenizer."""

from __future__ import annotations

from conftest import shared_pdf

from ragcli.chunking import ChunkingParams, chunk_document, join_pages, sentence_spans
from ragcli.loading import load_document
from ragcli.schema import Page


def test_chunks_fit_budget_keep_offsets_and_pages(minilm):
    doc = load_document(shared_pdf("digst_govcloud_paas_startarkitektur.pdf"), "govcloud.pdf")
    params = ChunkingParams(max_tokens=160, overlap_tokens=32)
    chunks = chunk_document(doc.pages, minilm.count_tokens, params)
    text, _, _ = join_pages(doc.pages)
    assert len(chunks) > 5
    for chunk in chunks:
        assert chunk.n_tokens <= 160
        assert minilm.count_tokens([chunk.text])[0] == chunk.n_tokens
        assert text[chunk.char_start : chunk.char_end] == chunk.text
        assert 1 <= chunk.page_start <= chunk.page_end <= len(doc.pages)
        assert chunk.doc == "govcloud.pdf"
    # Every page's text is covered by some chunk.
    assert {p for c in chunks for p in range(c.page_start, c.page_end + 1)} == {p.page for p in doc.pages if p.text}
    # Neighbours overlap (sentences carried over) but never start at the same place.
    overlaps = sum(1 for a, b in zip(chunks, chunks[1:]) if b.char_start < a.char_end)
    assert overlaps >= len(chunks) // 2
    assert len({c.char_start for c in chunks}) == len(chunks)


def test_page_numbers_follow_the_text(minilm):
    pages = [
        Page(doc="d", path="/d", page=1, text="Første side handler om skoler. " * 5),
        Page(doc="d", path="/d", page=2, text=""),
        Page(doc="d", path="/d", page=3, text="Tredje side handler om affald. " * 5),
    ]
    chunks = chunk_document(pages, minilm.count_tokens, ChunkingParams(max_tokens=24, overlap_tokens=0))
    assert chunks[0].page_start == 1
    assert chunks[-1].page_end == 3
    for chunk in chunks:
        if "affald" in chunk.text and "skoler" not in chunk.text:
            assert chunk.page_start == 3


def test_long_sentence_without_punctuation_is_split_not_truncated(minilm):
    words = " ".join(f"kolonne{i}" for i in range(400))
    pages = [Page(doc="t", path="/t", page=1, text=words)]
    chunks = chunk_document(pages, minilm.count_tokens, ChunkingParams(max_tokens=64, overlap_tokens=8))
    assert len(chunks) > 3
    assert all(c.n_tokens <= 64 for c in chunks)
    assert "kolonne0" in chunks[0].text and "kolonne399" in chunks[-1].text


def test_danish_sentence_splitting_respects_abbreviations_and_dates():
    text = "Mødet starter kl. 16.00 den 27. august. Se bl.a. punkt 3. Overskrift\nNæste afsnit begynder her."
    parts = [text[s.start : s.end] for s in sentence_spans(text)]
    assert parts == [
        "Mødet starter kl. 16.00 den 27. august.",
        "Se bl.a. punkt 3.",
        "Overskrift",
        "Næste afsnit begynder her.",
    ]
    # "maks." does not end a sentence: cutting there once quoted "Fratræk 50% af egenbetalingsbeløb (maks."
    text = "Fratræk 50% af egenbetalingsbeløb (maks. 100 kr.) pr. behandling. Send fakturaen."
    parts = [text[s.start : s.end] for s in sentence_spans(text)]
    assert parts == ["Fratræk 50% af egenbetalingsbeløb (maks. 100 kr.) pr. behandling.", "Send fakturaen."]
