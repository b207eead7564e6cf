"""The store seam: what the rest of ragcli needs from an index, whichever store holds it.

Two stores satisfy it: the local folder (ragcli.store: FAISS + SQLite + bm25s, the embedded
default) and PostgreSQL (ragcli.pgstore: pgvector + Danish full-text, one index for a whole
organisation). Retrieval, answering and evaluation read through `IndexReader`; ingest writes
through `IndexWriter`, so both stores get the same incremental-by-sha256 logic.

`store` is None, "" or "local" for the local folder under `home` ("local" overrides a URL from
the environment or the config file), or a postgresql:// URL.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np

from ragcli.errors import UsageError
from ragcli.schema import Chunk
from ragcli.store import DocumentRecord

PG_SCHEMES = ("postgresql://", "postgres://")
LOCAL = "local"


@runtime_checkable
class LexicalRanker(Protocol):
    """Exact-term search over the chunks, and the term statistics grounding uses."""

    def search(self, query: str, k: int) -> list[tuple[int, float]]: ...

    def document_frequency(self, term: str) -> int: ...

    def __len__(self) -> int: ...


@runtime_checkable
class IndexReader(Protocol):
    """A read view of one index. `manifest` holds the facts checked on open (model, dim, chunking, counts)."""

    manifest: dict

    @property
    def name(self) -> str: ...

    @property
    def embedding_model(self) -> str: ...

    @property
    def location(self) -> str: ...

    @property
    def lexical(self) -> LexicalRanker: ...

    def refresh(self) -> bool: ...

    def check(self) -> None: ...

    def dense_search(self, query_vector: np.ndarray, k: int) -> list[tuple[int, float]]: ...

    def chunks(self, ids: list[int]) -> dict[int, Chunk]: ...

    def chunk_vectors(self, ids: Sequence[int]) -> np.ndarray: ...

    def chunk_ids_by_path(self) -> dict[str, list[int]]: ...

    def documents(self) -> list[DocumentRecord]: ...

    def close(self) -> None: ...


# The chunks and vectors of documents[i], asked for only where the store needs them
# (the local store rewrites every chunk; PostgreSQL only inserts documents it lacks).
ChunksOf = Callable[[int], tuple[list[Chunk], np.ndarray]]


class IndexWriter(Protocol):
    """Where ingest commits a run: one writer at a time (lock), all of a run or nothing (commit)."""

    @property
    def name(self) -> str: ...

    @property
    def pending_folder(self) -> Path | None: ...

    def lock(self) -> AbstractContextManager: ...

    def exists(self) -> bool: ...

    def manifest(self) -> dict: ...

    def open(self) -> IndexReader: ...

    def sources(self) -> list[str]: ...

    def commit(
        self, documents: list[DocumentRecord], chunks_of: ChunksOf, manifest_fields: dict, rebuild: bool = False,
        on_live: Callable[[], None] | None = None,  # called the moment the new index is the one readers get
    ) -> dict: ...

    def close(self) -> None: ...


def is_pg(store: str | None) -> bool:
    return bool(store) and str(store).startswith(PG_SCHEMES)


def check_store(store: str | None, option: str = "--store") -> None:
    if store and store != LOCAL and not is_pg(store):
        # the address is not repeated: it may hold a password ("mysql://u:hemmelig@h/db")
        scheme = store.split("://", 1)[0] if "://" in store else None
        given = f"en {scheme}://-adresse" if scheme and scheme.isalnum() and len(scheme) <= 12 else "en adresse uden postgresql://"
        raise UsageError(f"{option} skal være en postgresql://-adresse (eller udeladt for det lokale indeks), ikke {given}")


def open_index(name: str, home: Path | str, store: str | None = None) -> IndexReader:
    """Open index `name`: the local folder under `home`, or the one in PostgreSQL at `store`."""
    check_store(store)
    if is_pg(store):
        from ragcli.pgstore import PgIndex

        return PgIndex(str(store), name)
    from ragcli.store import Index

    return Index.open(Path(home), name)


def index_exists(name: str, home: Path | str, store: str | None = None) -> bool:
    """Is there an index `name` in the store (a damaged one too)?"""
    from ragcli.store import IndexNotFound, IndexProblem

    try:
        with open_index(name, home, store):
            return True
    except IndexNotFound:
        return False
    except IndexProblem as exc:
        if is_pg(store):
            from ragcli.pgstore import PgStoreError

            if isinstance(exc, PgStoreError):
                raise  # a server that cannot be reached says nothing of what it holds
        return True


def index_writer(name: str, home: Path | str, store: str | None = None) -> IndexWriter:
    check_store(store)
    if is_pg(store):
        from ragcli.pgstore import PgWriter, default_pending_folder

        return PgWriter(str(store), name, pending_folder=default_pending_folder(str(store), name))
    from ragcli.store import LocalWriter, index_dir

    return LocalWriter(index_dir(Path(home), name))


def copy_index(source: IndexReader, target: IndexWriter) -> dict:
    """Copy every document, chunk and vector of `source` into `target` (replacing it), without re-embedding."""
    documents = source.documents()
    ids_by_path = source.chunk_ids_by_path()

    def chunks_of(i: int) -> tuple[list[Chunk], np.ndarray]:
        ids = ids_by_path.get(documents[i].path, [])
        chunk_map = source.chunks(ids)
        return [chunk_map[c] for c in ids], source.chunk_vectors(ids)

    fields = {key: source.manifest[key] for key in ("embedding", "chunking", "sources") if key in source.manifest}
    with target.lock():
        return target.commit(documents, chunks_of, fields, rebuild=True)
