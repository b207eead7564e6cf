"""`ragcli serve`: a real server process on a free port, real HTTP (httpx), the official openai client.

One server for the module (models load once); the fast tests at the top need no model.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from conftest import REPO, TEST_EMBED_MODEL, free_port, http_server

from ragcli import wire
from ragcli.errors import UsageError
from ragcli.retrieval import MAX_QUESTION_CHARS
from ragcli.server import Busy, GenerationQueue, Guard, ServeSettings, _last_user_text, _parts

TOKEN = "hemmelig-test-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
QUESTIONS = ("Hvornår starter skoledagen?", "Hvad koster en plads i SFO?")
QUEUE = 2


# ---------------------------------------------------------------- fast: no model


def test_any_address_but_loopback_needs_a_token():
    ServeSettings().check()
    ServeSettings(host="::1").check()
    with pytest.raises(UsageError, match="--token"):
        ServeSettings(host="0.0.0.0").check()
    ServeSettings(host="0.0.0.0", token="t").check()


def test_the_served_question_limit_stays_within_the_librarys():
    ServeSettings(max_question=MAX_QUESTION_CHARS).check()
    with pytest.raises(UsageError, match="--max-question"):
        ServeSettings(max_question=MAX_QUESTION_CHARS + 1).check()


def test_serve_refuses_an_open_address_without_token_and_a_taken_port_before_loading_anything(tmp_path):
    from typer.testing import CliRunner

    from ragcli.cli import app

    runner = CliRunner()
    open_address = runner.invoke(app, ["serve", "--index", "demo", "--home", str(tmp_path), "--host", "0.0.0.0"], env={"RAGCLI_TOKEN": None})
    assert open_address.exit_code == 2 and "--token" in open_address.output
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = str(taken.getsockname()[1])
        busy = runner.invoke(app, ["serve", "--index", "demo", "--home", str(tmp_path), "--port", port])
    assert busy.exit_code == 2 and f"127.0.0.1:{port}" in busy.output  # not "no index": the port is checked first


def test_the_queue_admits_one_running_and_size_waiting_then_says_when_to_come_back():
    queue = GenerationQueue(2)
    for _ in range(3):
        queue.admit()
    with pytest.raises(Busy) as busy:
        queue.admit()
    assert busy.value.retry_after >= 1 and queue.pending == 3
    queue.close()


def test_guard_checks_the_bearer_token_and_the_body_size():
    from fastapi import FastAPI
    from fastapi.testclient import TestClient

    inner = FastAPI()

    @inner.get("/healthz")
    def health():
        return {"status": "ok"}

    @inner.post("/echo")
    async def echo(body: dict):
        return body

    inner.add_middleware(Guard, token=TOKEN, max_body=2048)
    client = TestClient(inner)
    assert client.get("/healthz").status_code == 200  # health checks need no token
    refused = client.post("/echo", json={"a": 1})
    assert refused.status_code == 401 and refused.headers["www-authenticate"] == "Bearer"
    assert "token" in refused.json()["error"]["message"]
    assert client.post("/echo", json={"a": 1}, headers={"Authorization": "Bearer forkert"}).status_code == 401
    assert client.post("/echo", json={"a": 1}, headers=AUTH).json() == {"a": 1}
    too_big = client.post("/echo", json={"a": "x" * 4000}, headers=AUTH)
    assert too_big.status_code == 413 and "2048" in too_big.json()["error"]["message"]

    def chunked():  # no Content-Length: counted as it arrives
        yield b'{"a": "'
        yield b"x" * 4000
        yield b'"}'

    assert client.post("/echo", content=chunked(), headers={**AUTH, "Content-Type": "application/json"}).status_code == 413


def test_a_body_that_does_not_come_is_a_408_not_a_held_connection():
    import asyncio

    async def app(scope, receive, send):  # never reached
        raise AssertionError("the body never came, so nothing may read it")

    guard = Guard(app, token=None, max_body=2048, body_timeout=0.2)
    sent: list[dict] = []

    async def receive():
        await asyncio.sleep(3600)  # a slowloris: the body never comes

    async def send(message):
        sent.append(message)

    scope = {"type": "http", "path": "/v1/ask", "method": "POST", "headers": [(b"host", b"127.0.0.1"), (b"content-length", b"60")]}
    asyncio.run(asyncio.wait_for(guard(scope, receive, send), 5))
    assert sent[0]["status"] == 408 and b"0.2 s" in sent[1]["body"]


def test_the_body_deadline_is_for_the_whole_body_not_each_read():
    import asyncio

    async def app(scope, receive, send):  # never reached
        raise AssertionError("the body never came whole")

    guard = Guard(app, token=None, max_body=2048, body_timeout=0.3)
    sent: list[dict] = []

    async def receive():  # one byte every 0.1 s: each read in time, the body never
        await asyncio.sleep(0.1)
        return {"type": "http.request", "body": b"x", "more_body": True}

    async def send(message):
        sent.append(message)

    scope = {"type": "http", "path": "/v1/ask", "method": "POST", "headers": [(b"host", b"127.0.0.1"), (b"content-length", b"2000")]}
    started = time.monotonic()
    asyncio.run(asyncio.wait_for(guard(scope, receive, send), 5))
    assert sent[0]["status"] == 408 and time.monotonic() - started < 1.0


def test_on_loopback_only_loopback_host_names_are_served():
    # DNS rebinding: a web page whose name now points at 127.0.0.1 sends its own name as Host
    from fastapi import FastAPI
    from fastapi.testclient import TestClient

    inner = FastAPI()

    @inner.get("/v1/indexes")
    def indexes():
        return {"indexes": []}

    inner.add_middleware(Guard, token=None, max_body=2048, loopback_only=True)
    client = TestClient(inner)
    for host in ("evil.example", "attacker.test:8765", "127.0.0.1.evil.example", ""):
        refused = client.get("/v1/indexes", headers={"Host": host})
        assert refused.status_code == 421 and "Host" in refused.json()["error"]["message"], host
    for host in ("127.0.0.1:8765", "localhost", "LOCALHOST:80", "[::1]:8765"):
        assert client.get("/v1/indexes", headers={"Host": host}).status_code == 200, host


def test_chat_question_and_streamed_parts():
    from ragcli.server import ChatMessage

    messages = [
        ChatMessage(role="system", content="Svar kort."),
        ChatMessage(role="user", content="Første spørgsmål"),
        ChatMessage(role="assistant", content="Svar"),
        ChatMessage(
            role="user",
            content=[{"type": "text", "text": "Hvornår"}, {"type": "image_url", "image_url": {}}, {"type": "text", "text": "starter skolen?"}],
        ),
    ]
    assert _last_user_text(messages) == "Hvornår starter skolen?"
    with pytest.raises(UsageError):
        _last_user_text([ChatMessage(role="system", content="x")])
    # a text part whose text is no text was a 500 with a traceback
    for text in (123, None):
        with pytest.raises(UsageError, match="'text' skal være tekst"):
            _last_user_text([ChatMessage(role="user", content=[{"type": "text", "text": text}])])
    text = "En almindelig skoledag starter kl. 8.00 for alle elever. [1]\n\nKilder:\n[1] a.pdf, s. 2"
    parts = _parts(text, 16)
    assert "".join(parts) == text and all(len(p) <= 16 for p in parts)


# ---------------------------------------------------------------- a real server


@pytest.fixture(scope="module")
def demo_home(tmp_path_factory, minilm) -> Path:
    from ragcli.session import ingest

    home = tmp_path_factory.mktemp("serve_home")
    report = ingest(REPO / "corpus", "demo", home=home, embed_model=TEST_EMBED_MODEL)
    assert report.documents == 5 and not report.skipped
    return home


@pytest.fixture(scope="module")
def server(demo_home):
    port = free_port()
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "RAGCLI_TOKEN": TOKEN}
    command = [sys.executable, "-m", "ragcli.cli", "serve", "--index", "demo", "--home", str(demo_home),
               "--port", str(port), "--queue", str(QUEUE)]
    with http_server(command, port, "/healthz", 300, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE) as url:
        yield url


@pytest.fixture(scope="module")
def client(server):
    with httpx.Client(base_url=server, headers=AUTH, timeout=300) as c:
        yield c


def _without_timings(data: dict) -> dict:
    return {k: v for k, v in data.items() if k != "timings"}


@pytest.mark.slow
def test_refuses_without_the_token_and_lists_its_index(server, client):
    assert httpx.get(f"{server}/healthz").json() == {"status": "ok"}
    refused = httpx.post(f"{server}/v1/search", json={"query": "skole"})
    assert refused.status_code == 401 and refused.headers["www-authenticate"] == "Bearer"
    indexes = client.get("/v1/indexes").json()
    assert [i["name"] for i in indexes["indexes"]] == ["demo"] and indexes["indexes"][0]["documents"] == 5
    assert "path" not in json.dumps(indexes) and str(Path.home()) not in json.dumps(indexes)  # no file-system paths out
    assert client.get("/v1/models").json()["data"][0]["id"] == "demo"


@pytest.mark.slow
def test_limits_and_bad_requests_are_clear_errors(client):
    long = client.post("/v1/ask", json={"question": "skole " * 500})
    assert long.status_code == 400 and "højst 2000" in long.json()["error"]["message"]
    big = client.post("/v1/search", content=b'{"query": "' + b"x" * 70_000 + b'"}', headers={"Content-Type": "application/json"})
    assert big.status_code == 413
    unknown = client.post("/v1/search", json={"query": "skole", "index": "../../etc"})
    assert unknown.status_code == 404 and "ukendt indeks" in unknown.json()["error"]["message"]
    echoed = client.post("/v1/search", json={"query": "skole", "index": "010203-1234"})  # masked as everything served
    assert echoed.status_code == 404 and "010203" not in echoed.text and "[skjult]" in echoed.text
    # paths and methods the API does not have: JSON errors, 405 with Allow for a known path
    for method, path, status in (("GET", "/v1/nope", 404), ("GET", "/", 404), ("PUT", "/v1/ask", 405), ("GET", "/v1/search", 405)):
        response = client.request(method, path)
        assert response.status_code == status and response.json()["error"]["code"] == status, (method, path)
    assert client.request("DELETE", "/v1/search").headers["allow"] == "POST"
    # a path is the client's text too: masked, and not echoed at any length
    lost = client.get("/010190-1234/" + "x" * 6_000)
    assert lost.status_code == 404 and "010190" not in lost.text and "[skjult]" in lost.text and len(lost.text) < 400
    assert client.head("/healthz").status_code == 200  # uptime checkers and curl -I
    # a chat message part whose text is a number is a 400, and the connection stays usable
    bad = client.post("/v1/chat/completions", json={"model": "demo", "messages": [{"role": "user", "content": [{"type": "text", "text": 123}]}]})
    assert bad.status_code == 400 and "tekst" in bad.json()["error"]["message"]
    assert client.get("/v1/indexes").status_code == 200
    invalid = client.post("/v1/search", json={"query": "skole", "k": 0, "path": "/etc/passwd"})
    assert invalid.status_code == 422 and "k" in invalid.json()["error"]["message"]
    # a field's name is the client's text: it had come back with its CPR number, and whole
    named = client.post("/v1/ask", json={"question": "Hvad?", "150585-4321" + "x" * 5_000: 1})
    assert named.status_code == 422 and "150585" not in named.text and "[skjult]" in named.text and len(named.text) < 500
    # a mistaken type is reported, not guessed at ("yes" as true, true as k=1)
    for path, body in (("/v1/search", {"query": "skole", "k": "3"}), ("/v1/search", {"query": "skole", "k": True}),
                       ("/v1/ask", {"question": "Hvornår?", "stream": "yes"}),
                       ("/v1/chat/completions", {"model": "demo", "stream": "true", "messages": [{"role": "user", "content": "Hvornår?"}]})):
        assert client.post(path, json=body).status_code == 422, body
    # curl -d without a Content-Type: said what to send (it had been "ugyldig forespørgsel: : Input should be …")
    form = client.post("/v1/search", content=b'{"query": "skole"}', headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert form.status_code == 422 and "Content-Type: application/json" in form.json()["error"]["message"]
    assert ": :" not in form.json()["error"]["message"]
    # A lone surrogate was a plain-text 500 (the embedder cannot encode it); zero-width
    # characters only were a search for five arbitrary passages.
    for body, said in ((rb'{"query": "skole \ud800"}', "lone surrogate"), (rb'{"query": "\u200b\u200b"}', "is empty")):
        refused = client.post("/v1/search", content=body, headers={"Content-Type": "application/json"})
        assert refused.status_code == 400 and said in refused.json()["error"]["message"]


@pytest.mark.slow
def test_search_is_the_search_json_shape(client):
    data = client.post("/v1/search", json={"query": "madaffald restaffald fraktioner", "k": 2}).json()
    assert tuple(data) == wire.keys(wire.SearchDict) and data["index"] == "demo"
    assert len(data["hits"]) == 2 and all(tuple(h) == wire.keys(wire.HitDict) for h in data["hits"])
    assert data["hits"][0]["doc"] == "fjordby_affaldssortering.pdf"


@pytest.mark.slow
def test_ask_gives_the_same_answer_as_the_library_and_loads_nothing_per_question(client, demo_home, llm_path):
    import ragcli

    served = []
    for question in QUESTIONS:
        started = time.perf_counter()
        data = client.post("/v1/ask", json={"question": question}).json()
        served.append((data, time.perf_counter() - started))
    with ragcli.Session.open("demo", home=demo_home) as session:
        local = [wire.answer(session.ask(q), "demo", "hybrid") for q in QUESTIONS]
    for (data, _), expected in zip(served, local):
        assert tuple(data) == wire.keys(wire.AnswerDict)
        assert _without_timings(data) == json.loads(json.dumps(_without_timings(expected), ensure_ascii=False))
    # The second question's time is its answer's own time: no model loads per question.
    data, wall = served[1]
    assert wall - data["timings"]["total_s"] < 1.0, (wall, data["timings"])


@pytest.mark.slow
def test_ask_streams_tokens_then_the_verified_answer(client):
    events = []
    with client.stream("POST", "/v1/ask", json={"question": QUESTIONS[0], "stream": True}) as response:
        assert response.status_code == 200 and response.headers["content-type"].startswith("text/event-stream")
        event = None
        for line in response.iter_lines():
            if line.startswith("event: "):
                event = line[7:]
            elif line.startswith("data: "):
                events.append((event, json.loads(line[6:])))
    kinds = [kind for kind, _ in events]
    assert kinds[-1] == "answer" and set(kinds[:-1]) == {"token"} and len(kinds) >= 2
    final = events[-1][1]
    plain = client.post("/v1/ask", json={"question": QUESTIONS[0]}).json()
    assert _without_timings(final) == _without_timings(plain)
    assert "".join(data["text"] for _, data in events[:-1]).strip()  # the model's own words came first


@pytest.mark.slow
def test_openai_client_gets_the_answer_with_source_lines_streamed_or_not(server):
    from openai import NotFoundError, OpenAI

    openai = OpenAI(base_url=f"{server}/v1", api_key=TOKEN, timeout=300, max_retries=0)
    assert [m.id for m in openai.models.list()] == ["demo"]
    messages = [{"role": "user", "content": QUESTIONS[0]}]
    reply = openai.chat.completions.create(model="demo", messages=messages)
    text = reply.choices[0].message.content
    assert reply.choices[0].finish_reason == "stop" and reply.model == "demo"
    assert "8.00" in text and "\n\nKilder:\n[1] fjordby_skolestart.pdf, s. 1" in text
    chunks = list(openai.chat.completions.create(model="demo", messages=messages, stream=True))
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == text
    assert chunks[-1].choices[0].finish_reason == "stop"
    with pytest.raises(NotFoundError):
        openai.chat.completions.create(model="findes-ikke", messages=messages)


@pytest.mark.slow
def test_twenty_clients_get_an_answer_or_a_503_with_retry_after_and_searches_do_not_wait(server, client):
    def ask(i: int) -> httpx.Response:
        with httpx.Client(base_url=server, headers=AUTH, timeout=600) as own:
            return own.post("/v1/ask", json={"question": QUESTIONS[i % 2]})

    with ThreadPoolExecutor(max_workers=20) as pool:
        futures = [pool.submit(ask, i) for i in range(20)]
        time.sleep(1.0)
        started = time.perf_counter()
        found = client.post("/v1/search", json={"query": "skole", "k": 1})
        search_seconds = time.perf_counter() - started
        responses = [f.result() for f in futures]
    statuses = sorted(r.status_code for r in responses)
    assert set(statuses) <= {200, 503}, statuses
    assert 1 <= statuses.count(200) <= 20 and statuses.count(503) >= 20 - (QUEUE + 1) * 2, statuses
    for r in responses:
        if r.status_code == 503:
            assert int(r.headers["retry-after"]) >= 1 and "optaget" in r.json()["error"]["message"]
        else:
            assert r.json()["answer"]
    assert found.status_code == 200 and search_seconds < 5.0, search_seconds  # not behind the generations
    assert client.get("/healthz").status_code == 200 and client.get("/v1/indexes").json()["queue"]["pending"] == 0


@pytest.mark.slow
def test_a_client_that_leaves_gets_no_generation(server, client):
    before = client.get("/v1/indexes").json()["queue"]["cancelled"]
    result: dict = {}
    first = threading.Thread(target=lambda: result.update(r=client.post("/v1/ask", json={"question": QUESTIONS[1]})))
    first.start()
    time.sleep(0.5)  # the first ask holds the model; the next one waits in the queue
    with httpx.Client(base_url=server, headers=AUTH, timeout=60) as leaving:
        with leaving.stream("POST", "/v1/ask", json={"question": QUESTIONS[0], "stream": True}) as response:
            assert response.status_code == 200
        # leaving the block closes the connection while the ask still waits
    first.join(timeout=300)
    assert result["r"].status_code == 200
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        queue = client.get("/v1/indexes").json()["queue"]
        if queue["pending"] == 0 and queue["cancelled"] > before:
            break
        time.sleep(0.2)
    assert queue["cancelled"] == before + 1 and queue["pending"] == 0, queue


@pytest.mark.slow
def test_mcp_tools_over_streamable_http(server):
    import anyio
    import httpx2
    from mcp import Client
    from mcp.client.streamable_http import streamable_http_client

    async def main():
        transport = streamable_http_client(f"{server}/mcp", http_client=httpx2.AsyncClient(headers=AUTH, timeout=300))
        async with Client(transport) as mcp:
            assert {t.name for t in (await mcp.list_tools()).tools} == {"search_documents", "ask_documents"}
            text_k = await mcp.call_tool("search_documents", {"query": "madaffald", "k": "3"})  # as over HTTP: 422
            return text_k, await mcp.call_tool("search_documents", {"query": "madaffald restaffald fraktioner", "k": 1})

    text_k, result = anyio.run(main)
    assert text_k.is_error and not result.is_error
    assert result.structured_content["passages"][0]["file"] == "fjordby_affaldssortering.pdf"
    # stateless: an "initialize" opens no session that 10,000 of them could use up
    hello = {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "probe", "version": "0"}}}
    with httpx.Client(headers={**AUTH, "Accept": "application/json, text/event-stream"}, timeout=60) as raw:
        replies = [raw.post(f"{server}/mcp", json=hello) for _ in range(30)]
        assert all(r.status_code == 200 and "mcp-session-id" not in r.headers for r in replies), replies[-1].text
        # the transport's own errors quote the message; CPR numbers in it are masked
        wrong = raw.post(f"{server}/mcp", json={"hello": "010190-1234"})
        # a stateless server sends nothing of itself: no event stream held open for ever
        idle = raw.get(f"{server}/mcp", headers={"Accept": "text/event-stream"}, timeout=10)
        # a loopback Host without its port is served, as the API serves it (it had been a plain-text 421) …
        bare = raw.post(f"{server}/mcp", json=hello, headers={"Host": "127.0.0.1"})
        # … and a web page of another origin is still refused by the SDK's own check
        foreign = raw.post(f"{server}/mcp", json=hello, headers={"Origin": "http://evil.example"})
    assert bare.status_code == 200 and foreign.status_code in (400, 403), (bare.text, foreign.text)
    assert wrong.status_code >= 400 and "010190" not in wrong.text, wrong.text
    assert idle.status_code == 405 and idle.headers["allow"] == "POST" and idle.json()["error"]["code"] == 405


@pytest.mark.slow
def test_an_index_re_ingested_while_served_is_searched_as_committed(client, demo_home, tmp_path):
    import shutil

    from ragcli.session import ingest

    folder = tmp_path / "corpus"
    shutil.copytree(REPO / "corpus", folder)
    (folder / "fjordby_svoemmehal.txt").write_text(
        "Fjordby Svømmehal\n\nSvømmehallen på Havnevej 7 har åbent for morgensvømning kl. 6.00-8.00 på hverdage.\n", encoding="utf-8"
    )
    report = ingest(folder, "demo", home=demo_home)
    assert report.added == ["fjordby_svoemmehal.txt"] and report.documents == 6
    found = client.post("/v1/search", json={"query": "morgensvømning svømmehallen", "k": 1}).json()
    assert found["hits"][0]["doc"] == "fjordby_svoemmehal.txt"
    assert client.get("/v1/indexes").json()["indexes"][0]["documents"] == 6


@pytest.mark.slow
@pytest.mark.parametrize("signum, said", [(signal.SIGTERM, "SIGTERM"), (signal.SIGINT, "Ctrl-C")])
def test_a_stop_signal_ends_a_serving_server_normally(demo_home, signum, said):
    """A service manager stops a server with SIGTERM: that is its normal end (exit 0, one line),
    not "Fejl: afbrudt" and exit 143, which systemd records as the unit having failed."""
    port = free_port()
    command = [sys.executable, "-m", "ragcli.cli", "serve", "--index", "demo", "--home", str(demo_home), "--port", str(port)]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "NO_COLOR": "1"}
    process = subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 300
        while True:
            assert process.poll() is None, process.stderr.read()
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline
            time.sleep(0.5)
        process.send_signal(signum)
        _, stderr = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0, stderr
    assert f"ragcli serve: stoppet ({said})" in stderr and "Fejl" not in stderr
