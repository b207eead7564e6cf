"""The OpenAI-compatible HTTP backend against a real local server (llama-cpp-python's own)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from conftest import free_port, http_server

from ragcli.errors import UsageError
from ragcli.generation import GenerationParams, HttpBackend, LlamaBackend
from ragcli.prompting import build_prompt
from ragcli.registry import ModelNotAvailable
from ragcli.schema import Chunk, Hit


@pytest.fixture(scope="module")
def server(llm_path):
    pytest.importorskip("fastapi", reason="llama-cpp-python's server needs fastapi (pip install -e '.[dev]')")
    port = free_port()
    command = [sys.executable, "-m", "ragcli.llama_server", "--model", str(llm_path), "--host", "127.0.0.1",
               "--port", str(port), "--n_ctx", "4096", "--verbose", "False"]
    with http_server(command, port, "/v1/models", 120, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) as url:
        yield url


def test_server_counts_tokens_like_the_local_model(server, llm_path):
    remote = HttpBackend(server, chat=False)
    local = LlamaBackend(llm_path, n_ctx=2048)
    text = "Skoledagen starter kl. 8.00 for alle elever i Fjordby Kommune."
    assert remote.count_tokens(text) == local.count_tokens(text)


def test_completion_over_http_answers_from_the_source(server):
    backend = HttpBackend(server, chat=False)
    text = "Skoledagen starter kl. 8.00 for alle elever i Fjordby Kommune."
    hit = Hit(Chunk("skole.pdf", "Skole", 2, 2, 0, len(text), text, 15), score=1.0)
    prompt = build_prompt("Hvornår starter skoledagen?", [hit], backend.count_tokens, budget=1500, chat=False)
    answer = "".join(backend.stream(prompt, GenerationParams(max_tokens=40)))
    assert "8" in answer and "\n" not in answer.strip()


def test_ask_with_llm_url_through_the_cli(server, small_index):
    home, name = small_index
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "RAGCLI_HOME": str(home)}
    result = subprocess.run(
        [sys.executable, "-m", "ragcli.cli", "ask", "Hvilken værdi skal Server.ehealth.mode have i produktion?",
         "--index", name, "--llm-url", server, "--llm-completion", "--json"],
        capture_output=True, text=True, env=env, timeout=600,
    )
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["answer"] and data["citations"]
    assert any(c["doc"] == "sds_ehdsi_driftshaandbog.pdf" and c["page_start"] <= 2 <= c["page_end"] for c in data["citations"])


def test_unreachable_server_is_a_clear_error_that_keeps_the_password_to_itself():
    with pytest.raises(ModelNotAvailable, match="cannot reach LLM server") as raised:
        HttpBackend(f"http://bruger:hemmelig@127.0.0.1:{free_port()}/v1")
    assert "hemmelig" not in str(raised.value) and "bruger" not in str(raised.value)


@pytest.mark.parametrize("url", ["http://localhost:abc", "http://[::1", "http://x\x1by", "localhost:8080", "file:///etc/passwd", "http://",
                                 "http://127.0.0.1:99999"])
def test_a_malformed_server_address_is_a_usage_error(url):
    # httpx raised InvalidURL (no HTTPError) for the first three, and ragcli printed a traceback
    with pytest.raises(UsageError, match="--llm-url") as raised:
        HttpBackend(url)
    assert "\n" not in str(raised.value) and "\x1b" not in str(raised.value) and "abc" not in str(raised.value)


def test_a_malformed_server_address_through_the_cli_is_one_line_and_exit_2(small_index):
    home, name = small_index
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "RAGCLI_HOME": str(home), "RAGCLI_LLM_URL": "http://[::1"}
    result = subprocess.run(
        [sys.executable, "-m", "ragcli.cli", "ask", "Hvilken værdi skal Server.ehealth.mode have?", "--index", name],
        capture_output=True, text=True, env=env, timeout=600,
    )
    assert result.returncode == 2, result.stderr
    assert result.stderr.startswith("Fejl: --llm-url") and "Traceback" not in result.stderr
