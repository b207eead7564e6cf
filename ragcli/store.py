"""The index on disk: a folder with a versioned manifest, FAISS vectors, SQLite metadata.

    indexes/<name>/
        manifest.json        the commit point: schema version, models, counts, generation
        gen-000003/          one complete generation of the index
            vectors.faiss    FAISS IndexIDMap2 over normalised vectors (ids = chunk ids)
            meta.sqlite      documents and chunks (no pickle anywhere)
            bm25/            bm25s lexical index

A new generation is written beside the current one and only becomes live when
manifest.json is atomically replaced to name it, so a crash at any moment leaves
either the old index or the new one, never a mixture. Old generations are removed
after the switch.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import sqlite3
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path

import numpy as np

from ragcli import __version__
from ragcli.errors import DataError
from ragcli.lexical import LexicalIndex, analyze, danish_stopwords
from ragcli.schema import Chunk

SCHEMA_VERSION = 1
MANIFEST = "manifest.json"
_GEN_PATTERN = re.compile(r"^gen-(\d{6})$")
_NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


class IndexProblem(DataError):
    """A problem with an index on disk (missing, wrong model, unreadable)."""


class IndexNotFound(IndexProblem):
    """There is no index of that name in the store (not one that is there but damaged)."""


def damaged(name: str, what: str) -> IndexProblem:
    """The one message for an index whose files cannot be trusted: say what, and how to fix it."""
    return IndexProblem(
        f"indekset {name!r} er beskadiget ({what}); byg det igen med `ragcli ingest MAPPE --index {name} --rebuild`"
    )


@dataclass(frozen=True)
class DocumentRecord:
    name: str
    path: str
    title: str
    sha256: str
    size: int
    pages: int
    chunks: int


# The lexical analyzer an index's BM25 terms were made with, recorded in its manifest (as bm25s
# saves its tokenizer) and compared on open: terms stemmed or filtered another way than the
# query's match the wrong chunks, or none, and nothing else would tell. Bump ANALYZER_VERSION
# whenever ragcli.lexical.analyze changes on purpose; the probe below also catches changes
# nobody announced (a new PyStemmer, another stop-word list, another token pattern).
ANALYZER_VERSION = 1
# Upper case, a decomposed "é", a stop word, digits and inflections the Danish stemmer folds.
_ANALYSIS_PROBE = "Skoledagen STARTER kl. 8 og slutter 14.30; cafe\u0301ens æbler, Æblerne, fødselsdagene 2024"
# What each recorded setting is called in the one-line message when it differs.
_ANALYSIS_NAMES = {
    "version": "analysens version",
    "stemmer": "ordstammer",
    "stopwords_sha256": "stopordslisten",
    "lowercase": "små bogstaver",
    "normalization": "unicode-normalisering",
    "probe_sha256": "analysens resultat",
}


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def analysis_settings() -> dict:
    """The lexical analysis settings of this ragcli, as an index's manifest records them.

    Stop words are recorded by identity (sha256 of the sorted list), not spelled out; the
    probe is the sha256 of analyze() over a fixed text, so any change in tokens, case
    folding, normalisation or stems shows. Document text reaches the analyzer NFC-normalised
    (ragcli.cleaning); analyze itself lower-cases.
    """
    return dict(_analysis_settings())


@lru_cache(maxsize=1)
def _analysis_settings() -> tuple[tuple[str, object], ...]:
    # Computed once: the stop words come from bm25s, the probe runs the stemmer.
    return tuple({
        "analyzer": "ragcli.lexical.analyze",
        "version": ANALYZER_VERSION,
        "stemmer": "snowball:danish",
        "stopwords": "bm25s.stopwords.STOPWORDS_DANISH",
        "stopwords_sha256": _sha256("\n".join(sorted(danish_stopwords()))),
        "lowercase": True,
        "normalization": "NFC",
        "probe_sha256": _sha256("\n".join(analyze(_ANALYSIS_PROBE))),
    }.items())


def check_analysis(manifest: dict, name: str, rebuild: str) -> None:
    """Refuse an index whose BM25 terms were made by another analysis than this ragcli's.

    `rebuild` is the command that fixes it. An index written before the settings were recorded
    has no "analysis" key and was built with today's settings (analyze has not changed since).
    """
    recorded = manifest.get("analysis")
    if recorded is None:
        return
    if not isinstance(recorded, dict):
        raise IndexProblem(f"indekset {name!r} er beskadiget (tekstanalysen i manifestet er ikke et JSON-objekt); byg det igen med `{rebuild}`")
    current = analysis_settings()
    differing = [label for key, label in _ANALYSIS_NAMES.items() if recorded.get(key) != current[key]]
    if differing:
        raise IndexProblem(
            f"indekset {name!r} er bygget med en anden tekstanalyse end denne ragcli bruger "
            f"({', '.join(differing)} afviger), så de leksikale søgeresultater ville være forkerte; "
            f"byg det igen med `{rebuild}`"
        )


def validate_name(name: str) -> str:
    if not _NAME_PATTERN.match(name):
        raise IndexProblem(f"invalid index name {name!r} (use ASCII letters a-z, digits, '.', '_' or '-')")
    return name


def index_dir(home: Path, name: str) -> Path:
    return home / validate_name(name)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_json_atomic(path: Path, data: dict) -> None:
    fd, tmp = tempfile.mkstemp(prefix=".manifest-", dir=path.parent)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump(data, handle, ensure_ascii=False, indent=2)
        handle.write("\n")
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)
    _fsync_dir(path.parent)


def read_manifest(folder: Path) -> dict:
    path = folder / MANIFEST
    if not path.exists():
        home = folder.parent
        if home.exists() and not home.is_dir():
            raise IndexNotFound(f"the index home {home} is a file, not a folder (--home, RAGCLI_HOME)")
        if folder.is_dir() and any(_GEN_PATTERN.match(p.name) for p in folder.iterdir()):
            # its data is there and its manifest gone: "no index … run ingest" had read as if
            # it never existed, and an ingest would have built a new one beside the old data
            raise damaged(folder.name, f"{MANIFEST} mangler")
        # The default home is relative ("indexes"): from another folder, the absolute path
        # says where it was looked for, and how to point elsewhere.
        where = folder if folder.is_absolute() else f"{folder} ({folder.absolute()})"
        hint = "" if folder.is_absolute() else "; or give --home / RAGCLI_HOME where the indexes are"
        raise IndexNotFound(f"no index at {where} (run `ragcli ingest FOLDER --index {folder.name}` first{hint})")
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        raise damaged(folder.name, f"{MANIFEST} is not UTF-8 text") from None
    except json.JSONDecodeError as exc:
        raise damaged(folder.name, f"{MANIFEST} is not valid JSON: {exc}") from None
    except OSError as exc:
        raise IndexProblem(f"unreadable manifest {path}: {exc.strerror or exc}") from None
    if not isinstance(manifest, dict):
        raise damaged(folder.name, f"{MANIFEST} is not a JSON object")
    version = manifest.get("schema_version")
    if version != SCHEMA_VERSION:
        raise IndexProblem(
            f"index {folder.name!r} has schema version {version}, this ragcli reads {SCHEMA_VERSION}; "
            "re-ingest with --rebuild"
        )
    _check_manifest(folder, manifest)
    check_analysis(manifest, folder.name, f"ragcli ingest MAPPE --index {folder.name} --rebuild")
    return manifest


def _check_manifest(folder: Path, manifest: dict) -> None:
    """The fields readers rely on, with their types; the generation must be gen-NNNNNN here.

    A manifest is data, not a path to follow: "../other/gen-000001" or an absolute path
    would serve another index's documents under this index's name.
    """
    generation = manifest.get("generation")
    if not isinstance(generation, str) or not _GEN_PATTERN.match(generation):
        raise damaged(folder.name, f"{MANIFEST} names the generation {generation!r}, not a gen-NNNNNN folder")
    embedding = manifest.get("embedding")
    if not (
        isinstance(embedding, dict)
        and isinstance(embedding.get("model"), str)
        and isinstance(embedding.get("dim"), int)
        and not isinstance(embedding.get("dim"), bool)
        and embedding["dim"] > 0
    ):
        raise damaged(folder.name, f"{MANIFEST} has no valid embedding model and dimension")
    chunking, counts = manifest.get("chunking"), manifest.get("counts")
    if not isinstance(chunking, dict) or not all(isinstance(chunking.get(k), int) for k in ("max_tokens", "overlap_tokens")):
        raise damaged(folder.name, f"{MANIFEST} has no valid chunking parameters")
    if not isinstance(counts, dict) or not all(isinstance(counts.get(k), int) for k in ("documents", "pages", "chunks", "tokens")):
        raise damaged(folder.name, f"{MANIFEST} has no valid counts")


def _create_schema(db: sqlite3.Connection) -> None:
    db.executescript(
        """
        CREATE TABLE documents (
            id INTEGER PRIMARY KEY,
            name TEXT NOT NULL UNIQUE,
            path TEXT NOT NULL,
            title TEXT NOT NULL,
            sha256 TEXT NOT NULL,
            size INTEGER NOT NULL,
            pages INTEGER NOT NULL,
            chunks INTEGER NOT NULL
        );
        CREATE TABLE chunks (
            id INTEGER PRIMARY KEY,
            doc_id INTEGER NOT NULL REFERENCES documents(id),
            page_start INTEGER NOT NULL,
            page_end INTEGER NOT NULL,
            char_start INTEGER NOT NULL,
            char_end INTEGER NOT NULL,
            n_tokens INTEGER NOT NULL,
            text TEXT NOT NULL
        );
        CREATE INDEX chunks_doc ON chunks(doc_id);
        """
    )


# Exact inner-product search up to this many chunks; an inverted-file index (IVF) above.
# Exact search costs ~0.2 ms per 1,000 384-d vectors on 2 cores (p95 16–17 ms at 100k, 179–214 ms at
# 1M: `make bench`), so it stays exact until ~200k chunks, where it reaches ~40 ms.
# IVF rather than HNSW: every ingest writes a whole new generation, and at 1M chunks an IVF
# index builds in ~3 minutes on 2 cores where an HNSW graph takes ~10.
ANN_THRESHOLD = 200_000
IVF_LISTS_PER_SQRT_N = 4  # nlist = 4·√n: 4,000 lists at 1M chunks (FAISS's usual 4–16·√n)
IVF_TRAIN_PER_LIST = 40  # k-means sample: 40 vectors per list (FAISS warns below 39)
# Lists probed per query: 1/32 of them, but never fewer than hold ~32k vectors, which cost
# ~6 ms to scan. At 1M chunks that is 131 of 4,000 lists: recall@10 0.998 against exact
# search on clustered synthetic vectors, p95 ~7 ms (make bench). Near the threshold it
# scans a larger share, so recall does not dip where IVF takes over from exact search.
IVF_PROBE_SHARE = 32
IVF_MIN_SCAN = 32_768
HNSW_EF_SEARCH = 1024  # for indexes written by earlier versions, which used HNSW32


def ivf_nprobe(nlist: int, n: int) -> int:
    share = max(1 / IVF_PROBE_SHARE, IVF_MIN_SCAN / max(n, 1))
    return max(1, min(nlist, int(np.ceil(nlist * share))))


def _vector_index(dim: int, vectors: np.ndarray, ids: np.ndarray, ann_threshold: int):
    """The FAISS index holding `vectors` under `ids`, and its description for the manifest."""
    import faiss

    n = len(vectors)
    if n < ann_threshold:
        index = faiss.IndexIDMap2(faiss.IndexFlatIP(dim))
        kind = "IDMap2,Flat"
    else:
        nlist = max(1, min(int(round(IVF_LISTS_PER_SQRT_N * np.sqrt(n))), n // IVF_TRAIN_PER_LIST))
        index = faiss.IndexIVFFlat(faiss.IndexFlatIP(dim), dim, nlist, faiss.METRIC_INNER_PRODUCT)
        # A hash table from chunk id to list position, so re-ingest can read vectors back by id.
        index.set_direct_map_type(faiss.DirectMap.Hashtable)
        sample = np.random.default_rng(0).choice(n, size=min(n, IVF_TRAIN_PER_LIST * nlist), replace=False)
        index.train(vectors[np.sort(sample)])
        kind = f"IVF{nlist},Flat"
    if n:
        index.add_with_ids(vectors, ids)
    return index, kind


def write_generation(
    folder: Path,
    documents: list[DocumentRecord],
    chunks: list[Chunk],
    vectors: np.ndarray,
    manifest_fields: dict,
    ann_threshold: int = ANN_THRESHOLD,
    on_live: Callable[[], None] | None = None,
) -> dict:
    """Write a complete new generation and switch the manifest to it (atomically); `on_live`
    is called once the manifest names it, before the old generations are removed.

    chunks[i] has vector vectors[i]; chunk ids are assigned here (1..n).
    Returns the new manifest.
    """
    import faiss

    folder.mkdir(parents=True, exist_ok=True)
    previous = None
    if (folder / MANIFEST).exists():
        try:
            previous = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError):
            previous = None
    existing = [int(m.group(1)) for p in folder.iterdir() if (m := _GEN_PATTERN.match(p.name))]
    generation = f"gen-{max(existing, default=0) + 1:06d}"
    staging = Path(tempfile.mkdtemp(prefix=".staging-", dir=folder))
    try:
        ids = np.arange(1, len(chunks) + 1, dtype=np.int64)
        dim = int(manifest_fields["embedding"]["dim"])
        vectors = np.ascontiguousarray(vectors, dtype=np.float32).reshape(len(chunks), dim)
        index, index_kind = _vector_index(dim, vectors, ids, ann_threshold)
        faiss.write_index(index, str(staging / "vectors.faiss"))

        db = sqlite3.connect(staging / "meta.sqlite")
        try:
            _create_schema(db)
            doc_ids = {}
            for i, doc in enumerate(documents, start=1):
                doc_ids[doc.name] = i
                db.execute(
                    "INSERT INTO documents VALUES (?,?,?,?,?,?,?,?)",
                    (i, doc.name, doc.path, doc.title, doc.sha256, doc.size, doc.pages, doc.chunks),
                )
            db.executemany(
                "INSERT INTO chunks VALUES (?,?,?,?,?,?,?,?)",
                [
                    (int(cid), doc_ids[c.doc], c.page_start, c.page_end, c.char_start, c.char_end, c.n_tokens, c.text)
                    for cid, c in zip(ids, chunks)
                ],
            )
            db.commit()
        finally:
            db.close()

        LexicalIndex.build([c.text for c in chunks], ids.tolist()).save(staging / "bm25")

        for path in staging.rglob("*"):
            if path.is_file():
                with path.open("rb") as handle:
                    os.fsync(handle.fileno())
        os.rename(staging, folder / generation)
        _fsync_dir(folder)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise

    now = _now()
    manifest = {
        "schema_version": SCHEMA_VERSION,
        "name": folder.name,
        "generation": generation,
        "created": (previous or {}).get("created", now),
        "updated": now,
        "ragcli_version": __version__,
        **manifest_fields,
        # The analysis the bm25/ terms above were made with (checked on open).
        "analysis": analysis_settings(),
        "faiss_index": index_kind,
        "counts": {
            "documents": len(documents),
            "pages": sum(d.pages for d in documents),
            "chunks": len(chunks),
            "tokens": int(sum(c.n_tokens for c in chunks)),
        },
    }
    _write_json_atomic(folder / MANIFEST, manifest)
    if on_live:
        on_live()
    remove_stale_generations(folder, keep=generation)
    return manifest


def remove_stale_generations(folder: Path, keep: str) -> None:
    """Delete generations and staging folders other than `keep` (left by old runs or crashes)."""
    for path in folder.iterdir():
        if path.is_dir() and path.name != keep and (_GEN_PATTERN.match(path.name) or path.name.startswith(".staging-")):
            shutil.rmtree(path, ignore_errors=True)


class Index:
    """A read-only view of the live generation of an index."""

    def __init__(self, folder: Path):
        self.folder = folder
        self._db: sqlite3.Connection | None = None
        self._open(read_manifest(folder))

    def _open(self, manifest: dict) -> None:
        """Move to the manifest's generation, once its tables have passed their check; a
        generation that fails it is never taken up (a reader that refreshes into it stays
        where it was, and checks it again on its next refresh)."""
        path = self.folder / manifest["generation"]
        if not path.is_dir():
            raise damaged(self.folder.name, f"{path.name} is missing")
        if path.is_symlink() or path.resolve().parent != self.folder.resolve():
            raise damaged(self.folder.name, f"{path.name} is not a folder inside the index")
        try:
            db = sqlite3.connect(f"file:{path / 'meta.sqlite'}?mode=ro", uri=True, check_same_thread=False)
        except sqlite3.Error:
            raise damaged(self.folder.name, "meta.sqlite cannot be opened") from None
        try:
            # Each file is checked against the manifest's counts as it is opened (the tables
            # here, the vectors and BM25 on first use): a file copied in from another index had
            # answered from the other corpus, or found nothing, without a word; only `info` had
            # noticed.
            self._check_tables(db, manifest)
        except BaseException:
            db.close()
            raise
        if self._db is not None:
            self._db.close()
        self._db, self.manifest, self.path = db, manifest, path
        self._vectors = None
        self._lexical: LexicalIndex | None = None

    def _check_tables(self, db: sqlite3.Connection, manifest: dict) -> None:
        counts = manifest["counts"]
        try:
            n_chunks = db.execute("SELECT count(*) FROM chunks").fetchone()[0]
            n_documents = db.execute("SELECT count(*) FROM documents").fetchone()[0]
        except sqlite3.DatabaseError as exc:
            raise damaged(self.folder.name, f"meta.sqlite cannot be read: {exc}") from None
        if (n_chunks, n_documents) != (counts["chunks"], counts["documents"]):
            raise damaged(
                self.folder.name,
                f"meta.sqlite holds {n_documents} documents and {n_chunks} chunks, "
                f"the manifest says {counts['documents']} and {counts['chunks']}",
            )

    def refresh(self) -> bool:
        """Move to the newest generation if an ingest has committed one since; True if it did.

        An ingest deletes the generation it replaces, so a reader that stays open (a chat
        session, a long batch) would otherwise fail on the next file it loads lazily.
        """
        manifest = read_manifest(self.folder)
        if manifest["generation"] == self.manifest["generation"]:
            return False
        self._open(manifest)
        return True

    def _vanished(self) -> IndexProblem | None:
        """The error to give when a file failed to open because an ingest replaced this generation."""
        if self.path.is_dir():
            return None
        return IndexProblem(f"index {self.name!r} was updated while it was being read; run the command again")

    @classmethod
    def open(cls, home: Path, name: str) -> Index:
        return cls(index_dir(home, name))

    @property
    def name(self) -> str:
        return self.folder.name

    @property
    def embedding_model(self) -> str:
        return self.manifest["embedding"]["model"]

    @property
    def location(self) -> str:
        """Where the index lives, for `info` and messages."""
        return str(self.folder.resolve())

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> Index:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    @property
    def vectors(self):
        if self._vectors is None:
            import faiss

            path = str(self.path / "vectors.faiss")
            try:
                # Memory-map where the index type allows it, so large indexes open fast.
                self._vectors = faiss.read_index(path, faiss.IO_FLAG_MMAP | faiss.IO_FLAG_READ_ONLY)
            except RuntimeError:
                try:
                    self._vectors = faiss.read_index(path)
                except RuntimeError:
                    raise self._vanished() or damaged(self.name, "vectors.faiss cannot be read") from None
            dim = int(self.manifest["embedding"]["dim"])
            if self._vectors.d != dim:
                found, self._vectors = self._vectors.d, None
                raise damaged(self.name, f"vectors.faiss holds {found}-dimensional vectors, the manifest says {dim}")
            chunks = self.manifest["counts"]["chunks"]
            if self._vectors.ntotal != chunks:
                found, self._vectors = self._vectors.ntotal, None
                raise damaged(self.name, f"vectors.faiss holds {found} vectors for {chunks} chunks")
            kind = self.manifest.get("faiss_index", "")
            if kind.startswith("IVF"):
                ivf = faiss.extract_index_ivf(self._vectors)
                ivf.nprobe = ivf_nprobe(ivf.nlist, ivf.ntotal)
            elif "HNSW" in kind:
                faiss.downcast_index(self._vectors.index).hnsw.efSearch = HNSW_EF_SEARCH
        return self._vectors

    @property
    def lexical(self) -> LexicalIndex:
        if self._lexical is None:
            # Memory-mapped: at 1M chunks the score matrix is ~0.5 GB and need not be read in.
            try:
                self._lexical = LexicalIndex.load(self.path / "bm25", mmap=True)
            except Exception:  # noqa: BLE001 - bm25s and numpy raise many types for broken files
                raise self._vanished() or damaged(self.name, "the BM25 index in bm25/ cannot be read") from None
            chunks = self.manifest["counts"]["chunks"]
            if len(self._lexical) != chunks:
                found, self._lexical = len(self._lexical), None
                raise damaged(self.name, f"the BM25 index holds {found} chunks, the manifest says {chunks}")
        return self._lexical

    def _query(self, sql: str, parameters: list | tuple = ()) -> list[tuple]:
        try:
            return self._db.execute(sql, parameters).fetchall()
        except sqlite3.DatabaseError as exc:
            raise self._vanished() or damaged(self.name, f"meta.sqlite cannot be read: {exc}") from None

    def check(self) -> None:
        """Open every file of the live generation and compare it with the manifest.

        Raises IndexProblem ("the index is damaged … --rebuild") at the first problem, so
        `info` never calls an index healthy that `search` cannot read.
        """
        if not (self.path / "meta.sqlite").is_file():
            raise damaged(self.name, "meta.sqlite is missing")
        integrity = self._query("PRAGMA quick_check")
        if not integrity or integrity[0][0] != "ok":
            raise damaged(self.name, "meta.sqlite failed its integrity check")
        self._check_tables(self._db, self.manifest)
        self.vectors  # noqa: B018 - opening them checks their counts
        self.lexical  # noqa: B018

    def dense_search(self, query_vector: np.ndarray, k: int) -> list[tuple[int, float]]:
        index = self.vectors
        if index.ntotal == 0:
            return []
        k = min(k, index.ntotal)
        scores, ids = index.search(np.asarray(query_vector, dtype=np.float32).reshape(1, -1), k)
        return [(int(i), float(s)) for i, s in zip(ids[0], scores[0]) if i >= 0]

    def chunks(self, ids: list[int]) -> dict[int, Chunk]:
        if not ids:
            return {}
        marks = ",".join("?" * len(ids))
        rows = self._query(
            f"""SELECT c.id, d.name, d.title, c.page_start, c.page_end, c.char_start, c.char_end,
                       c.text, c.n_tokens
                FROM chunks c JOIN documents d ON d.id = c.doc_id WHERE c.id IN ({marks})""",
            [int(i) for i in ids],
        )
        return {
            row[0]: Chunk(
                doc=row[1], title=row[2], page_start=row[3], page_end=row[4], char_start=row[5],
                char_end=row[6], text=row[7], n_tokens=row[8], chunk_id=row[0],
            )
            for row in rows
        }

    def chunk_vectors(self, ids) -> np.ndarray:
        """The stored vectors of chunks `ids`, in that order (ingest carries them into the next generation)."""
        if len(ids) == 0:
            return np.zeros((0, int(self.manifest["embedding"]["dim"])), dtype=np.float32)
        return self.vectors.reconstruct_batch(np.asarray(ids, dtype=np.int64))

    def chunk_ids_by_path(self) -> dict[str, list[int]]:
        rows = self._query("SELECT d.path, c.id FROM chunks c JOIN documents d ON d.id = c.doc_id ORDER BY c.id")
        ids_by_path: dict[str, list[int]] = {}
        for path, cid in rows:
            ids_by_path.setdefault(path, []).append(cid)
        return ids_by_path

    def documents(self) -> list[DocumentRecord]:
        rows = self._query("SELECT name, path, title, sha256, size, pages, chunks FROM documents ORDER BY name")
        return [DocumentRecord(*row) for row in rows]


class LocalWriter:
    """Ingest's side of the local store: a lock file, and a new generation per run (see write_generation)."""

    def __init__(self, folder: Path):
        self.folder = folder

    @property
    def name(self) -> str:
        return self.folder.name

    @property
    def pending_folder(self) -> Path:
        return self.folder / ".pending"

    def lock(self):
        from ragcli.locking import IndexLock

        return IndexLock(self.folder)

    def exists(self) -> bool:
        return (self.folder / MANIFEST).exists()

    def manifest(self) -> dict:
        return read_manifest(self.folder)

    def open(self) -> Index:
        return Index(self.folder)

    def sources(self) -> list[str]:
        """The folders ingested so far, as the manifest lists them (leniently: a rebuild may follow a damaged one)."""
        try:
            return list(json.loads((self.folder / MANIFEST).read_text(encoding="utf-8")).get("sources", []))
        except (OSError, ValueError):
            return []

    def commit(
        self, documents: list[DocumentRecord], chunks_of, manifest_fields: dict, rebuild: bool = False, on_live=None
    ) -> dict:
        """Every document's chunks and vectors, in order, into one new generation (rebuild changes nothing here)."""
        dim = int(manifest_fields["embedding"]["dim"])
        all_chunks: list[Chunk] = []
        parts = []
        for i in range(len(documents)):
            chunks, vectors = chunks_of(i)
            all_chunks.extend(chunks)
            parts.append(np.asarray(vectors).reshape(-1, dim))
        vectors = np.vstack(parts) if parts else np.zeros((0, dim), dtype=np.float32)
        return write_generation(self.folder, documents, all_chunks, vectors, manifest_fields, on_live=on_live)

    def close(self) -> None:
        pass
