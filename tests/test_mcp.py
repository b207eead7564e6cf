"""`ragcli mcp`: the official MCP client starts the server over stdio and calls its two tools."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
from conftest import REPO, TEST_EMBED_MODEL

from ragcli import wire


@pytest.fixture(scope="module")
def demo_home(tmp_path_factory, minilm) -> Path:
    from ragcli.session import ingest

    home = tmp_path_factory.mktemp("mcp_home")
    ingest(REPO / "corpus", "demo", home=home, embed_model=TEST_EMBED_MODEL)
    return home


@pytest.mark.slow
def test_stdio_tools_search_and_answer_with_checked_citations(demo_home, llm_path):
    import anyio
    from mcp import Client, StdioServerParameters

    params = StdioServerParameters(
        command=sys.executable,
        args=["-m", "ragcli.cli", "mcp", "--index", "demo", "--home", str(demo_home)],
        env={"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "PATH": os.environ.get("PATH", "")},
        cwd=str(REPO),
    )

    async def main():
        async with Client(params, read_timeout_seconds=600) as mcp:
            tools = {t.name: t for t in (await mcp.list_tools()).tools}
            found = await mcp.call_tool("search_documents", {"query": "madaffald restaffald fraktioner", "k": 2})
            answer = await mcp.call_tool("ask_documents", {"question": "Hvornår starter skoledagen?"})
            empty = await mcp.call_tool("ask_documents", {"question": "   "})
            zero = await mcp.call_tool("search_documents", {"query": "skole", "k": 0})
            return tools, found, answer, empty, zero

    tools, found, answer, empty, zero = anyio.run(main)
    # k is bounded as over HTTP (it was turned into 1 without a word), and the schema says so
    assert zero.is_error and "k" in zero.content[0].text
    assert tools["search_documents"].input_schema["properties"]["k"].get("minimum") == 1
    assert set(tools) == {"search_documents", "ask_documents"}
    assert set(tools["ask_documents"].output_schema["properties"]) == set(wire.keys(wire.ToolAnswerDict))
    assert set(tools["search_documents"].input_schema["properties"]) >= {"query", "k"}

    assert not found.is_error and tuple(found.structured_content) == wire.keys(wire.ToolSearchDict)
    passages = found.structured_content["passages"]
    assert len(passages) == 2 and passages[0]["file"] == "fjordby_affaldssortering.pdf" and passages[0]["text"]

    assert not answer.is_error
    data = answer.structured_content
    assert tuple(data) == wire.keys(wire.ToolAnswerDict)
    assert data["decision"] in ("answered", "extracted") and "8.00" in data["answer"]
    assert data["citations"], data
    for citation in data["citations"]:
        assert tuple(citation) == wire.keys(wire.ToolCitationDict)
    first = data["citations"][0]
    assert first["file"] == "fjordby_skolestart.pdf" and first["page"].startswith("1") and first["supported"] is True
    assert "8.00" in first["quote"]

    assert empty.is_error and "ingen tekst" in empty.content[0].text  # a clear message, not a crash


def test_tool_errors_name_the_field_and_never_echo_what_was_sent():
    """Rejected arguments and unknown names: one line that says what was wrong, without the
    value the client sent, and CPR numbers masked (the SDK's own text quoted pydantic's,
    input included). In-process client; the tools never run, so no index is opened."""
    import anyio
    from mcp import Client

    from ragcli.mcp_server import build_server
    from ragcli.server import ServeSettings, Service

    cpr = "010190-1234"
    service = Service(ServeSettings(queue=0), {"demo": None})  # served indexes are never reached here

    async def main():
        async with Client(build_server(service)) as mcp:
            return {
                "k": await mcp.call_tool("search_documents", {"query": "skole", "k": cpr}),
                "question": await mcp.call_tool("ask_documents", {"question": 101901234}),
                "missing": await mcp.call_tool("search_documents", {"k": 3}),
                "index": await mcp.call_tool("search_documents", {"query": "skole", "index": cpr}),
                "tool": await mcp.call_tool(f"search_documents\n{cpr}", {"query": "skole"}),
            }

    results = anyio.run(main)
    texts = {name: result.content[0].text for name, result in results.items()}
    assert all(result.is_error for result in results.values()), texts
    for name, text in texts.items():
        assert "\n" not in text and cpr not in text and "101901234" not in text and "input_value" not in text, (name, text)
    assert texts["k"].startswith("ugyldige argumenter til search_documents: k:")
    assert texts["question"].startswith("ugyldige argumenter til ask_documents: question:")
    assert "query" in texts["missing"]
    assert "ukendt indeks" in texts["index"] and "[skjult]" in texts["index"]
    assert "[skjult]" in texts["tool"]
