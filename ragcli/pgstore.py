"""The PostgreSQL store: one index for a whole organisation, in a database it already runs.

Each index is a schema, "ragcli_<name>", holding

    meta        one row: the manifest (embedding model and dimension, chunking, counts, schema
                version, ragcli version, generation), checked on open like the local manifest.json
    documents   one row per document (name, path, title, sha256, size, pages, chunks)
    chunks      one row per chunk: its text, `embedding vector(dim)` (HNSW, inner product on
                normalised vectors), `tsv tsvector` generated as to_tsvector('danish', text) (GIN;
                PostgreSQL's own full-text search) and `terms tsvector`, the local store's analyzer's
                terms with their positions (GIN), which BM25 ranks by
    terms       term → number of chunks holding it, kept in step with `chunks` by every ingest:
                BM25 computed inside PostgreSQL gives the local store's bm25s scores

An ingest run is one transaction: readers see the index before the run or after it, never half
a document, and a killed run leaves the previous state. Two ingests of one index are kept apart
by an advisory lock (a killed writer's lock goes with its connection). Chunk ids come from an
identity column and are never reused, so a reader holding ids from before a commit finds them
gone, never pointing at another passage.

No user text is ever part of an SQL string: names go through psycopg.sql.Identifier, values
are parameters.
"""

from __future__ import annotations

import re
import threading
from collections import Counter
from collections.abc import Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from ragcli import __version__
from ragcli.lexical import analyze
from ragcli.locking import IndexLocked
from ragcli.schema import Chunk
from ragcli.store import (
    SCHEMA_VERSION,
    DocumentRecord,
    IndexNotFound,
    IndexProblem,
    _check_manifest,
    analysis_settings,
    check_analysis,
    validate_name,
)

SCHEMA_PREFIX = "ragcli_"
MAX_IDENTIFIER = 63  # PostgreSQL's NAMEDATALEN - 1
LOCK_CLASS = 0x7261  # first key of pg_try_advisory_lock(int, int): "ra", ragcli's locks
CONNECT_TIMEOUT_S = 10
# HNSW returns at most ef_search rows; retrieval asks for 50 candidates, so search wider.
HNSW_EF_SEARCH = 200
HNSW_M, HNSW_EF_CONSTRUCTION = 16, 64  # pgvector's defaults, named so `info` can show them
BM25_K1, BM25_B = 1.2, 0.75  # as the local store's bm25s
# "bm25" (default): BM25 from the terms table, the local store's ranking function over Danish
# lexemes. "ts_rank_cd": PostgreSQL's cover density ranking, measured worse on the dev set (README).
LEXICAL_RANKINGS = ("bm25", "ts_rank_cd")
MAX_LEXEME_BYTES = 2046  # tsvector's limit; longer "words" (base64 runs) are not search terms


class PgStoreError(IndexProblem):
    """The PostgreSQL server cannot be reached or used (connection, rights, pgvector)."""


def _psycopg():
    import psycopg

    return psycopg


def schema_name(name: str) -> str:
    """The schema of index `name`; refuses names that are not index names or too long for PostgreSQL."""
    validate_name(name)
    schema = SCHEMA_PREFIX + name
    if len(schema.encode()) > MAX_IDENTIFIER:
        raise IndexProblem(
            f"indeksnavnet {name!r} er for langt til PostgreSQL (højst {MAX_IDENTIFIER - len(SCHEMA_PREFIX)} tegn)"
        )
    return schema


# The user part of a URL: up to its last "@". A password written with an unencoded "/", "@",
# "?" or "#" ("postgresql://u:Vinter/2025@db/rag") is cut apart by libpq into host, port and
# database names, which had then been shown as "where" the server is.
_USERINFO = re.compile(r"^[A-Za-z][\w+.-]*://(.*)@")


def _secrets(url: str) -> list[str]:
    """What of `url` may be a password, longest first: libpq's reading of it, and the raw text
    after the user name up to the last "@" with its pieces (however libpq cut it)."""
    found: list[str] = []
    try:
        from psycopg.conninfo import conninfo_to_dict

        password = conninfo_to_dict(url).get("password")
        if password:
            found.append(str(password))
    except Exception:  # noqa: BLE001 - an unparsable URL still has its raw text
        pass
    match = _USERINFO.match(url)
    if match:
        userinfo = match.group(1)
        user = re.split(r"[:@]", userinfo, maxsplit=1)[0]
        secret = userinfo[len(user) + 1:]
        if secret:
            found += [secret, *(piece for piece in re.split(r"[/@:?#]", secret) if len(piece) >= 3)]
    return sorted(set(found), key=len, reverse=True)


def where(url: str) -> str:
    """user@host:port/db of a connection URL, never its password (for messages and `info`)."""
    try:
        from psycopg.conninfo import conninfo_to_dict

        parts = conninfo_to_dict(url)
    except Exception:  # noqa: BLE001 - any unparsable URL is described the same way
        return "postgresql://?"
    host = str(parts.get("host") or "localhost")
    port = f":{parts['port']}" if parts.get("port") else ""
    user = f"{parts['user']}@" if parts.get("user") else ""
    shown = f"postgresql://{user}{host}{port}/{parts.get('dbname') or ''}"
    match = _USERINFO.match(url)
    if match and _misread(url, shown):
        # libpq read part of the password as the host or database: show the raw address after
        # its last "@" instead, and the user name before the first ":" or "@"
        name = re.split(r"[:@]", match.group(1), maxsplit=1)[0]
        return f"postgresql://{name}@{re.split(r'[?#]', url[match.end():], maxsplit=1)[0]}"
    return shown


def _misread(url: str, shown: str | None = None) -> bool:
    """Did libpq take part of the password for the host, port or database?"""
    if shown is None:
        try:
            from psycopg.conninfo import conninfo_to_dict

            parts = conninfo_to_dict(url)
        except Exception:  # noqa: BLE001
            return False
        shown = " ".join(str(parts.get(key) or "") for key in ("host", "port", "dbname"))
    return any(secret in shown for secret in _secrets(url))


def _first_line(exc: BaseException, url: str) -> str:
    text = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    for secret in _secrets(url):  # longest first, so a piece never leaves the rest of a longer one
        text = text.replace(secret, "***")
    return re.sub(r"^connection failed: ", "", text)[:200]


def _lost(url: str, exc: BaseException) -> PgStoreError:
    return PgStoreError(f"forbindelsen til PostgreSQL på {where(url)} gik tabt: {_first_line(exc, url)}")


@contextmanager
def _connection_lost_is_one_line(url: str):
    """A server gone mid-work is one line, not psycopg's traceback."""
    psycopg = _psycopg()
    try:
        yield
    except psycopg.OperationalError as exc:
        raise _lost(url, exc) from None


def connect(url: str, autocommit: bool = True):
    """A connection to `url`, or one line naming the server (not the password), the cause and the fix."""
    psycopg = _psycopg()
    location = where(url)
    try:
        return psycopg.connect(url, autocommit=autocommit, connect_timeout=CONNECT_TIMEOUT_S, application_name="ragcli")
    except psycopg.ProgrammingError:  # a URL libpq cannot parse
        # libpq's reason quotes the URL, or the token it choked on, which may be the password
        # ('invalid percent-encoded token: "Hunter2%Secret"'): not repeated
        raise PgStoreError(
            "ugyldig PostgreSQL-adresse (libpq kan ikke læse den); brug postgresql://BRUGER@VÆRT/DATABASE, "
            "og skriv tegn som % @ / : # i en adgangskode %-kodet (% som %25), eller sæt den i PGPASSWORD"
        ) from None
    except psycopg.OperationalError as exc:
        cause = _first_line(exc, url)
        if "password authentication failed" in cause or "no password supplied" in cause:
            fix = "forkert bruger eller adgangskode; sæt den i PGPASSWORD eller ~/.pgpass"
        elif _misread(url):
            fix = "adgangskoden har et / @ eller : uden %-kodning; skriv det %-kodet (/ som %2F, @ som %40) eller sæt den i PGPASSWORD"
        elif re.search(r"database .* does not exist", cause):
            fix = "databasen findes ikke; opret den med createdb eller ret adressen"
        else:
            fix = "tjek at serveren kører og adressen er rigtig"
        raise PgStoreError(f"kan ikke forbinde til PostgreSQL på {location}: {cause} ({fix})") from None


def _vector_text(vector: np.ndarray) -> str:
    # repr of a float32 widened to float64 reads back as the same float32 in pgvector.
    return "[" + ",".join(repr(float(x)) for x in np.asarray(vector, dtype=np.float32).ravel()) + "]"


def _parse_vector(text: str) -> np.ndarray:
    return np.array([float(x) for x in text.strip("[]").split(",")] if text.strip("[]") else [], dtype=np.float32)


def _no_nul(text: str) -> str:
    # PostgreSQL text cannot hold U+0000 (SQLite can); cleaning removes it from documents, and a
    # stray one becomes U+FFFD, one character for one, so chunk offsets stay right.
    return text.replace("\x00", "\ufffd")


def _quoted(lexeme: str) -> str:
    return "'" + lexeme.replace("\\", "\\\\").replace("'", "''") + "'"


def _terms_tsvector(text: str) -> tuple[str, int]:
    """ragcli.lexical.analyze's terms of `text` as a tsvector literal (with positions, for tf), and their count.

    An empty chunk gets bm25s's dummy term, so chunk lengths (and BM25's average) match the local store.
    """
    terms = analyze(text) or ["\u2205"]
    positions: dict[str, list[int]] = {}
    for position, term in enumerate(terms, start=1):
        if len(term.encode()) <= MAX_LEXEME_BYTES:
            # tsvector keeps positions up to 16383 and 256 per lexeme: plenty for a chunk.
            positions.setdefault(term, []).append(min(position, 16383))
    literal = " ".join(f"{_quoted(term)}:{','.join(map(str, sorted(set(p))[:256]))}" for term, p in positions.items())
    return literal, len(terms)


def _tsquery(lexemes: Sequence[str]) -> str:
    """An OR of quoted lexemes in tsquery syntax (a parameter value; quotes and backslashes escaped)."""
    return " | ".join(_quoted(lx) for lx in lexemes)


class _Tables:
    """The quoted names of one index's schema and tables."""

    def __init__(self, name: str, schema: str | None = None):
        from psycopg import sql

        self.schema_text = schema or schema_name(name)
        self.schema = sql.Identifier(self.schema_text)
        for table in ("meta", "documents", "chunks", "terms"):
            setattr(self, table, sql.Identifier(self.schema_text, table))

    def sql(self, template: str, *args):
        """`template` with {schema}, {meta}, {documents}, {chunks}, {terms} filled in as identifiers."""
        from psycopg import sql

        return sql.SQL(template).format(
            *args, schema=self.schema, meta=self.meta, documents=self.documents, chunks=self.chunks, terms=self.terms
        )


def default_pending_folder(url: str, name: str) -> Path:
    """The user's cache folder for one server's index: ~/.cache/ragcli/pending/<server and index>."""
    import hashlib
    import os

    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    key = hashlib.sha256(f"{where(url)}|{schema_name(name)}".encode()).hexdigest()[:16]
    return cache / "ragcli" / "pending" / key


def _missing(name: str, url: str) -> IndexNotFound:
    return IndexNotFound(
        f"intet indeks {name!r} i {where(url)} (kør `ragcli ingest MAPPE --index {name} --store URL` først)"
    )


def _read_manifest(conn, tables: _Tables, name: str, url: str) -> dict:
    psycopg = _psycopg()
    try:
        row = conn.execute(tables.sql("SELECT manifest FROM {meta} WHERE id = 1")).fetchone()
    except psycopg.errors.UndefinedTable:
        raise _missing(name, url) from None
    except psycopg.errors.InsufficientPrivilege as exc:
        raise PgStoreError(f"ingen læseret til indekset {name!r} i {where(url)}: {_first_line(exc, url)}") from None
    if row is None:
        raise _missing(name, url)
    manifest = row[0]
    if not isinstance(manifest, dict):
        raise IndexProblem(f"indekset {name!r} i {where(url)} er beskadiget (meta er ikke et JSON-objekt)")
    version = manifest.get("schema_version")
    if version != SCHEMA_VERSION:
        raise IndexProblem(
            f"index {name!r} has schema version {version}, this ragcli reads {SCHEMA_VERSION}; re-ingest with --rebuild"
        )
    _check_manifest(Path(name), manifest)
    check_analysis(manifest, name, f"ragcli ingest MAPPE --index {name} --store URL --rebuild")
    return manifest


class PgLexical:
    """Lexical ranking inside PostgreSQL, with the interface of ragcli.lexical.LexicalIndex."""

    def __init__(self, index: PgIndex, ranking: str = "bm25"):
        if ranking not in LEXICAL_RANKINGS:
            raise ValueError(f"unknown lexical ranking {ranking!r}")
        self._index = index
        self.ranking = ranking
        self._df: dict[str, int] = {}

    def __len__(self) -> int:
        return int(self._index.manifest["counts"]["chunks"])

    def document_frequency(self, term: str) -> int:
        """Chunks holding a Danish lexeme (Snowball-stemmed, like ragcli.lexical.analyze's terms)."""
        if term not in self._df:
            row = self._index._query("SELECT df FROM {terms} WHERE lexeme = %s", (term,))
            self._df[term] = int(row[0][0]) if row else 0
        return self._df[term]

    def search(self, query: str, k: int) -> list[tuple[int, float]]:
        """Top-k (chunk id, score) pairs; chunks sharing no term with the query are not ranked."""
        if len(self) == 0:
            return []
        if self.ranking == "ts_rank_cd":
            rows = self._index._query("SELECT DISTINCT lexeme FROM unnest(to_tsvector('danish', %s))", (query,))
            lexemes = sorted(r[0] for r in rows)
            if not lexemes:
                return []
            rows = self._index._query(
                """SELECT c.id, ts_rank_cd(c.tsv, q.q) AS score FROM {chunks} c, (SELECT CAST(%s AS tsquery) AS q) q
                   WHERE c.tsv @@ q.q ORDER BY score DESC, c.id LIMIT %s""",
                (_tsquery(lexemes), k),
            )
        else:
            # The local store's analyzer and BM25 (bm25s, Lucene's idf), computed from this index's
            # own term statistics: the same scores, so hybrid fusion weighs them the same way.
            counts = Counter(t for t in analyze(query) if len(t.encode()) <= MAX_LEXEME_BYTES)
            if not counts:
                return []
            terms = sorted(counts)
            lexical = self._index.manifest.get("lexical", {})
            n = max(1, int(self._index.manifest["counts"]["chunks"]))
            avg_terms = float(lexical.get("avg_terms") or 1.0)
            rows = self._index._query(
                """WITH q AS (
                       SELECT t.lexeme, qt.n * ln(1 + (%(n)s - t.df + 0.5) / (t.df + 0.5)) AS idf
                       FROM unnest(%(terms)s::text[], %(qtf)s::int[]) AS qt(lexeme, n)
                       JOIN {terms} t ON t.lexeme = qt.lexeme WHERE t.df > 0)
                   SELECT c.id, sum(q.idf * u.tf / (u.tf + %(k1)s * (1 - %(b)s + %(b)s * c.n_terms / %(avg)s))) AS score
                   FROM {chunks} c
                   -- the query's terms only (weighted 'A', then filtered): 2.5x faster than unnesting all
                   CROSS JOIN LATERAL (SELECT lexeme, cardinality(positions) AS tf
                                       FROM unnest(ts_filter(setweight(c.terms, 'A', %(terms)s::text[]), '{{a}}'))) u
                   JOIN q ON q.lexeme = u.lexeme
                   WHERE c.terms @@ CAST(%(tsquery)s AS tsquery)
                   GROUP BY c.id ORDER BY score DESC, c.id LIMIT %(k)s""",
                {"n": n, "terms": terms, "qtf": [counts[t] for t in terms], "k1": BM25_K1, "b": BM25_B,
                 "avg": avg_terms, "tsquery": _tsquery(terms), "k": k},
            )
        return [(int(cid), float(score)) for cid, score in rows if score > 0]


class PgIndex:
    """A read view of one index in PostgreSQL; every query sees the last committed ingest."""

    def __init__(self, url: str, name: str, lexical_ranking: str = "bm25"):
        self.url = url
        self.tables = _Tables(name)
        self._name = name
        self._lock = threading.Lock()  # one connection; serve's threads take turns on it
        self._conn = self._connect()
        try:
            self.manifest = _read_manifest(self._conn, self.tables, name, url)
        except BaseException:
            self._conn.close()
            raise
        self._lexical = PgLexical(self, lexical_ranking)

    def _connect(self):
        conn = connect(self.url)
        conn.execute(f"SET hnsw.ef_search = {int(HNSW_EF_SEARCH)}")
        return conn

    @property
    def name(self) -> str:
        return self._name

    @property
    def embedding_model(self) -> str:
        return self.manifest["embedding"]["model"]

    @property
    def location(self) -> str:
        return f"{where(self.url)} (skema {self.tables.schema_text})"

    @property
    def lexical(self) -> PgLexical:
        return self._lexical

    def _query(self, template: str, parameters=()) -> list[tuple]:
        psycopg = _psycopg()
        with self._lock:  # one connection, and who replaces it when it is lost, under one lock
            for attempt in (1, 2):
                try:
                    if self._conn.closed:  # lost earlier: a long-lived reader reconnects
                        self._conn = self._connect()
                    return self._conn.execute(self.tables.sql(template), parameters).fetchall()
                except psycopg.errors.UndefinedTable:
                    raise IndexProblem(f"indekset {self.name!r} blev slettet, mens det blev læst; kør kommandoen igen") from None
                except psycopg.OperationalError as exc:
                    # A server restarted (or a failover) since the last query: the connection
                    # is found broken only by using it. Every query here reads, so it is asked
                    # once more on a new connection; serve had failed each connection's first
                    # request.
                    if attempt == 1 and (self._conn.closed or self._conn.broken):
                        self._conn.close()
                        continue
                    raise _lost(self.url, exc) from None
        raise AssertionError("unreachable")

    def refresh(self) -> bool:
        """Re-read the manifest; True if an ingest has committed since (the term statistics changed)."""
        rows = self._query("SELECT manifest FROM {meta} WHERE id = 1")
        if rows and isinstance(rows[0][0], dict) and rows[0][0].get("generation") == self.manifest.get("generation"):
            return False
        # read whole and checked (the analysis too), on the connection _query just used
        with _connection_lost_is_one_line(self.url), self._lock:
            manifest = _read_manifest(self._conn, self.tables, self.name, self.url)
        if manifest.get("generation") == self.manifest.get("generation"):
            return False
        self.manifest = manifest
        self._lexical._df.clear()
        return True

    def check(self) -> None:
        counts = self.manifest["counts"]
        (n_documents,), = self._query("SELECT count(*) FROM {documents}")
        (n_chunks,), = self._query("SELECT count(*) FROM {chunks}")
        if (n_chunks, n_documents) != (counts["chunks"], counts["documents"]):
            raise IndexProblem(
                f"indekset {self.name!r} i {where(self.url)} holder {n_documents} dokumenter og {n_chunks} stykker, "
                f"meta siger {counts['documents']} og {counts['chunks']}; byg det igen med --rebuild"
            )
        dim = int(self.manifest["embedding"]["dim"])
        wrong = self._query("SELECT count(*) FROM {chunks} WHERE vector_dims(embedding) <> %s", (dim,))[0][0]
        if wrong:
            raise IndexProblem(f"indekset {self.name!r} har {wrong} vektorer, der ikke har {dim} dimensioner; byg det igen med --rebuild")

    def dense_search(self, query_vector: np.ndarray, k: int) -> list[tuple[int, float]]:
        # <#> is the negative inner product; vectors are normalised, so -distance is the cosine.
        rows = self._query(
            "SELECT id, -(embedding <#> CAST(%s AS vector)) FROM {chunks} ORDER BY embedding <#> CAST(%s AS vector) LIMIT %s",
            (_vector_text(query_vector),) * 2 + (int(k),),
        )
        return [(int(cid), float(score)) for cid, score in rows]

    def chunks(self, ids: list[int]) -> dict[int, Chunk]:
        if not ids:
            return {}
        rows = self._query(
            """SELECT c.id, d.name, d.title, c.page_start, c.page_end, c.char_start, c.char_end, c.text, c.n_tokens
               FROM {chunks} c JOIN {documents} d ON d.id = c.doc_id WHERE c.id = ANY(%s)""",
            ([int(i) for i in ids],),
        )
        return {
            row[0]: Chunk(
                doc=row[1], title=row[2], page_start=row[3], page_end=row[4], char_start=row[5],
                char_end=row[6], text=row[7], n_tokens=row[8], chunk_id=row[0],
            )
            for row in rows
        }

    def chunk_vectors(self, ids: Sequence[int]) -> np.ndarray:
        dim = int(self.manifest["embedding"]["dim"])
        if len(ids) == 0:
            return np.zeros((0, dim), dtype=np.float32)
        rows = dict(self._query("SELECT id, embedding::text FROM {chunks} WHERE id = ANY(%s)", ([int(i) for i in ids],)))
        return np.vstack([_parse_vector(rows[int(i)]) for i in ids]).reshape(-1, dim)

    def chunk_ids_by_path(self) -> dict[str, list[int]]:
        rows = self._query("SELECT d.path, c.id FROM {chunks} c JOIN {documents} d ON d.id = c.doc_id ORDER BY c.id")
        ids_by_path: dict[str, list[int]] = {}
        for path, cid in rows:
            ids_by_path.setdefault(path, []).append(int(cid))
        return ids_by_path

    def documents(self) -> list[DocumentRecord]:
        rows = self._query("SELECT name, path, title, sha256, size, pages, chunks FROM {documents} ORDER BY name")
        return [DocumentRecord(*row) for row in rows]

    def close(self) -> None:
        self._conn.close()

    def __enter__(self) -> PgIndex:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


_CREATE = """
CREATE SCHEMA IF NOT EXISTS {schema};
CREATE TABLE {meta} (id int PRIMARY KEY CHECK (id = 1), manifest jsonb NOT NULL);
CREATE TABLE {documents} (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name text NOT NULL,
    path text NOT NULL,
    title text NOT NULL,
    sha256 text NOT NULL,
    size bigint NOT NULL,
    pages integer NOT NULL,
    chunks integer NOT NULL,
    -- deferred: an ingest may swap two documents' names within its transaction
    CONSTRAINT documents_name_unique UNIQUE (name) DEFERRABLE INITIALLY DEFERRED
);
CREATE TABLE {chunks} (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    doc_id bigint NOT NULL REFERENCES {documents}(id) ON DELETE CASCADE,
    page_start integer NOT NULL,
    page_end integer NOT NULL,
    char_start integer NOT NULL,
    char_end integer NOT NULL,
    n_tokens integer NOT NULL,
    text text NOT NULL,
    embedding vector({dim}) NOT NULL,
    -- PostgreSQL's own Danish full-text search, for SQL users and the ts_rank_cd ranking
    tsv tsvector GENERATED ALWAYS AS (to_tsvector('danish'::regconfig, text)) STORED,
    -- the local store's analyzer (ragcli.lexical.analyze), which BM25 ranks by
    terms tsvector NOT NULL,
    n_terms integer NOT NULL
);
CREATE INDEX ON {chunks} (doc_id);
CREATE TABLE {terms} (lexeme text PRIMARY KEY, df integer NOT NULL);
"""
# Built once a new index's rows are in: faster than growing them row by row (pgvector's advice).
_INDEXES = """
SET LOCAL maintenance_work_mem = '256MB';
CREATE INDEX ON {chunks} USING hnsw (embedding vector_ip_ops) WITH (m = {m}, ef_construction = {efc});
CREATE INDEX ON {chunks} USING gin (tsv);
CREATE INDEX ON {chunks} USING gin (terms);
"""


class PgWriter:
    """Ingest's side of the PostgreSQL store: an advisory lock, and one transaction per run."""

    def __init__(self, url: str, name: str, pending_folder: Path | None = None):
        self.url = url
        self.tables = _Tables(name)
        self._target = self.tables  # where a commit writes: the live schema, or a new one for a rebuild
        self._name = name
        self._pending = pending_folder
        self._conn = connect(url)

    @property
    def name(self) -> str:
        return self._name

    @property
    def pending_folder(self) -> Path | None:
        """Where ingest keeps each document's vectors until the run commits (None: nowhere).

        A killed run's transaction takes its inserted rows with it; vectors kept here on the
        machine that embeds let the next run resume instead of embedding them again.
        """
        return self._pending

    def _lost(self):
        """A server gone mid-ingest is one line (the run's vectors wait in the pending folder,
        and the next run resumes from them)."""
        return _connection_lost_is_one_line(self.url)

    @contextmanager
    def lock(self):
        """Refuse a second concurrent ingest of this index at once, rather than wait or interleave."""
        key = self.tables.schema_text
        with self._lost():
            (taken,), = self._conn.execute("SELECT pg_try_advisory_lock(%s, hashtext(%s))", (LOCK_CLASS, key)).fetchall()
        if not taken:
            raise IndexLocked(
                f"indekset {self.name!r} i {where(self.url)} opdateres allerede af en anden ingest; vent til den er færdig"
            )
        try:
            yield self
        finally:
            if not self._conn.closed and not self._conn.broken:
                with self._lost():
                    self._conn.execute("SELECT pg_advisory_unlock(%s, hashtext(%s))", (LOCK_CLASS, key))

    def exists(self) -> bool:
        with self._lost():
            (found,), = self._conn.execute(
                "SELECT to_regclass(quote_ident(%s) || '.meta') IS NOT NULL", (self.tables.schema_text,)
            ).fetchall()
        return bool(found)

    def manifest(self) -> dict:
        with self._lost():
            return _read_manifest(self._conn, self.tables, self.name, self.url)

    def sources(self) -> list[str]:
        try:
            return list(self.manifest().get("sources", [])) if self.exists() else []
        except IndexProblem:
            return []

    def open(self) -> PgIndex:
        return PgIndex(self.url, self.name)

    def close(self) -> None:
        self._conn.close()

    def commit(
        self, documents: list[DocumentRecord], chunks_of, manifest_fields: dict, rebuild: bool = False, on_live=None
    ) -> dict:
        """Make the index hold exactly `documents`, in one transaction (`on_live` once it is committed).

        A document whose content (sha256) the index already holds keeps its rows (renamed or
        moved in place); only documents the index lacks get their chunks asked for and inserted.
        """
        psycopg = _psycopg()
        try:
            with self._conn.transaction():
                manifest = self._commit(documents, chunks_of, manifest_fields, rebuild)
            if on_live:
                on_live()
            return manifest
        except psycopg.errors.InsufficientPrivilege as exc:
            raise PgStoreError(
                f"brugeren må ikke oprette eller ændre indekset i {where(self.url)} ({_first_line(exc, self.url)}); "
                "giv CREATE-ret på databasen, eller lad en administrator køre CREATE EXTENSION vector"
            ) from None
        except (psycopg.errors.UndefinedFile, psycopg.errors.FeatureNotSupported) as exc:
            raise PgStoreError(
                f"PostgreSQL på {where(self.url)} har ikke udvidelsen pgvector ({_first_line(exc, self.url)}); installér pgvector på serveren"
            ) from None
        except psycopg.OperationalError as exc:
            raise PgStoreError(
                f"forbindelsen til PostgreSQL på {where(self.url)} gik tabt under ingest; indekset er uændret ({_first_line(exc, self.url)})"
            ) from None

    def _execute(self, template: str, parameters=(), *args):
        return self._conn.execute(self._target.sql(template, *args), parameters)

    def _create(self, dim: int) -> _Tables:
        """Empty tables in a schema of their own, to become the index's schema when the run commits.

        A rebuild fills them while readers go on reading the old schema; only the final swap
        (DROP + RENAME, at the end of the transaction) makes them wait, for a moment.
        """
        import hashlib

        from psycopg import sql

        self._conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
        staging = _Tables(self.name, "ragcli__new_" + hashlib.sha256(self.tables.schema_text.encode()).hexdigest()[:20])
        self._conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(staging.schema))
        self._run_script(_CREATE, staging, dim)
        return staging

    def _run_script(self, script: str, tables: _Tables, dim: int) -> None:
        from psycopg import sql

        for statement in script.split(";"):
            if statement.strip():
                self._conn.execute(
                    sql.SQL(statement).format(
                        schema=tables.schema, meta=tables.meta, documents=tables.documents,
                        chunks=tables.chunks, terms=tables.terms, dim=sql.Literal(int(dim)),
                        m=sql.Literal(HNSW_M), efc=sql.Literal(HNSW_EF_CONSTRUCTION),
                    )
                )

    def _swap_in(self, staging: _Tables) -> None:
        from psycopg import sql

        self._conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(self.tables.schema))
        self._conn.execute(sql.SQL("ALTER SCHEMA {} RENAME TO {}").format(staging.schema, self.tables.schema))

    def _term_counts(self, doc_ids: list[int], sign: int) -> None:
        """Add (sign 1) or take away (sign -1) the lexemes of these documents' chunks in {terms}."""
        if not doc_ids:
            return
        self._execute(
            """INSERT INTO {terms} (lexeme, df)
               SELECT u.lexeme, %s * count(*) FROM {chunks} c, unnest(c.terms) u WHERE c.doc_id = ANY(%s) GROUP BY u.lexeme
               ON CONFLICT (lexeme) DO UPDATE SET df = {terms}.df + EXCLUDED.df""",
            (sign, doc_ids),
        )

    def _commit(self, documents: list[DocumentRecord], chunks_of, manifest_fields: dict, rebuild: bool) -> dict:
        dim = int(manifest_fields["embedding"]["dim"])
        try:
            previous = self.manifest() if self.exists() else None
        except IndexProblem:
            if not rebuild:
                raise
            previous = None  # a damaged or older index is what --rebuild is for
        fresh = rebuild or previous is None
        if fresh:
            self._target = self._create(dim)
        try:
            manifest = self._fill(documents, chunks_of, manifest_fields, previous, dim)
            if fresh:
                self._run_script(_INDEXES, self._target, dim)
                self._swap_in(self._target)
            return manifest
        finally:
            self._target = self.tables

    def _fill(self, documents: list[DocumentRecord], chunks_of, manifest_fields: dict, previous: dict | None, dim: int) -> dict:
        """Insert, update and delete rows so that the target schema holds `documents`; returns the manifest."""
        stored: dict[str, list[int]] = {}
        described: dict[int, tuple] = {}
        for doc_id, sha256, *rest in self._execute("SELECT id, sha256, name, path, title, size FROM {documents} ORDER BY id"):
            stored.setdefault(sha256, []).append(int(doc_id))
            described[int(doc_id)] = tuple(rest)
        new: list[int] = []
        for i, record in enumerate(documents):
            ids = stored.get(record.sha256)
            if ids:
                doc_id = ids.pop(0)
                now = (record.name, record.path, record.title, record.size)
                if described[doc_id] != now:  # renamed or moved: its rows stay, its description changes
                    self._execute("UPDATE {documents} SET name = %s, path = %s, title = %s, size = %s WHERE id = %s", (*now, doc_id))
            else:
                new.append(i)
        gone = [doc_id for ids in stored.values() for doc_id in ids]
        self._term_counts(gone, -1)
        if gone:
            self._execute("DELETE FROM {documents} WHERE id = ANY(%s)", (gone,))
        self._execute("DELETE FROM {terms} WHERE df <= 0")

        added: list[int] = []
        for i in new:
            record = documents[i]
            chunks, vectors = chunks_of(i)
            vectors = np.asarray(vectors, dtype=np.float32).reshape(-1, dim)
            (doc_id,), = self._execute(
                """INSERT INTO {documents} (name, path, title, sha256, size, pages, chunks)
                   VALUES (%s, %s, %s, %s, %s, %s, %s) RETURNING id""",
                (_no_nul(record.name), _no_nul(record.path), _no_nul(record.title), record.sha256, record.size,
                 record.pages, record.chunks),
            ).fetchall()
            added.append(int(doc_id))
            with self._conn.cursor().copy(
                self._target.sql(
                    "COPY {chunks} (doc_id, page_start, page_end, char_start, char_end, n_tokens, text, embedding,"
                    " terms, n_terms) FROM STDIN"
                )
            ) as copy:
                for chunk, vector in zip(chunks, vectors):
                    terms, n_terms = _terms_tsvector(chunk.text)
                    copy.write_row(
                        (doc_id, chunk.page_start, chunk.page_end, chunk.char_start, chunk.char_end, chunk.n_tokens,
                         _no_nul(chunk.text), _vector_text(vector), terms, n_terms)
                    )
        if added:
            self._term_counts(added, 1)

        (n_docs, pages, n_chunks, tokens, avg_terms), = self._execute(
            """SELECT (SELECT count(*) FROM {documents}), (SELECT coalesce(sum(pages), 0) FROM {documents}),
                      count(*), coalesce(sum(n_tokens), 0), coalesce(avg(n_terms), 0) FROM {chunks}"""
        ).fetchall()
        generation = 1 + (int(str(previous["generation"]).removeprefix("gen-")) if previous else 0)
        now = datetime.now(UTC).isoformat(timespec="seconds")
        manifest = {
            "schema_version": SCHEMA_VERSION,
            "name": self.name,
            "generation": f"gen-{generation:06d}",
            "created": (previous or {}).get("created", now),
            "updated": now,
            "ragcli_version": __version__,
            **manifest_fields,
            "store": "postgresql",
            "vector_index": f"hnsw (m={HNSW_M}, ef_construction={HNSW_EF_CONSTRUCTION}, ef_search={HNSW_EF_SEARCH}), inner product",
            "lexical": {"ranking": "bm25", "config": "danish", "avg_terms": round(float(avg_terms), 4)},
            # The analysis the `terms` column was made with (checked on open, as the local store's).
            "analysis": analysis_settings(),
            "counts": {"documents": int(n_docs), "pages": int(pages), "chunks": int(n_chunks), "tokens": int(tokens)},
        }
        from psycopg.types.json import Jsonb

        self._execute(
            "INSERT INTO {meta} (id, manifest) VALUES (1, %s) ON CONFLICT (id) DO UPDATE SET manifest = EXCLUDED.manifest",
            (Jsonb(manifest),),
        )
        return manifest
