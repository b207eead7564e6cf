"""Danish lexical search: BM25 (bm25s) over Snowball-stemmed, stop-word-filtered tokens."""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path

import numpy as np

# Words of two or more characters, plus lone digits (numbers matter in questions).
_TOKEN = re.compile(r"\b(?:\w\w+|\d)\b", re.UNICODE)


@lru_cache(maxsize=1)
def _stemmer():
    import Stemmer  # PyStemmer

    return Stemmer.Stemmer("danish")


@lru_cache(maxsize=1)
def danish_stopwords() -> frozenset[str]:
    from bm25s.stopwords import STOPWORDS_DANISH

    return frozenset(STOPWORDS_DANISH)


def analyze(text: str) -> list[str]:
    """Lower-case, drop Danish stop words, Snowball-stem: the terms BM25 sees."""
    stop = danish_stopwords()
    words = [w for w in _TOKEN.findall(text.lower()) if w not in stop]
    return _stemmer().stemWords(words)


class LexicalIndex:
    """BM25 over chunk texts; row i of the index is chunk ids[i]."""

    def __init__(self, retriever, ids: np.ndarray):
        self._retriever = retriever
        self.ids = ids

    @classmethod
    def build(cls, texts: Sequence[str], ids: Sequence[int]) -> LexicalIndex:
        import bm25s

        retriever = bm25s.BM25(k1=1.2, b=0.75)
        # An empty chunk would make bm25s drop a row and shift ids; give it a dummy term.
        corpus_tokens = [analyze(t) or ["\u2205"] for t in texts]
        retriever.index(corpus_tokens, show_progress=False)
        return cls(retriever, np.asarray(ids, dtype=np.int64))

    def save(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self._retriever.save(str(folder), show_progress=False)
        np.save(folder / "chunk_ids.npy", self.ids)

    @classmethod
    def load(cls, folder: Path, mmap: bool = False) -> LexicalIndex:
        import bm25s

        retriever = bm25s.BM25.load(str(folder), mmap=mmap, show_progress=False)
        ids = np.load(folder / "chunk_ids.npy")
        return cls(retriever, ids)

    def document_frequency(self, term: str) -> int:
        """How many chunks contain a (stemmed) term; 0 for a term the index never saw."""
        token_id = self._retriever.vocab_dict.get(term)
        if token_id is None:
            return 0
        # bm25s keeps its score matrix column-compressed by term: indptr bounds each column.
        indptr = self._retriever.scores["indptr"]
        return int(indptr[token_id + 1] - indptr[token_id])

    def __len__(self) -> int:
        return len(self.ids)

    def search(self, query: str, k: int) -> list[tuple[int, float]]:
        """Top-k (chunk id, BM25 score) pairs with a positive score."""
        vocab = self._retriever.vocab_dict
        terms = [t for t in analyze(query) if t in vocab]
        if not terms or len(self.ids) == 0:
            return []
        k = min(k, len(self.ids))
        rows, scores = self._retriever.retrieve([terms], k=k, show_progress=False, n_threads=1)
        return [
            (int(self.ids[row]), float(score))
            for row, score in zip(rows[0], scores[0])
            if score > 0
        ]
