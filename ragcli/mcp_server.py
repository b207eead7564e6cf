"""`ragcli mcp`: the indexes as Model Context Protocol tools, for agents (Claude Desktop, Cursor, …).

Two tools, built on the official `mcp` SDK's MCPServer and on ragcli.server's Service (the
same sessions, generation queue and limits as `ragcli serve`):

    search_documents(query, k)   passages with file, page, score and text
    ask_documents(question)      the verified answer with its decision and citations
                                 (file, page, quote, supported)

Both return structured content (the ToolSearchDict and ToolAnswerDict shapes of
ragcli.wire) besides the same JSON as text. `ragcli mcp --index NAME` serves them over
stdio; `ragcli serve` mounts them over streamable HTTP at /mcp.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager, redirect_stdout
from typing import TYPE_CHECKING, Annotated

from pydantic import Field

from ragcli import wire

if TYPE_CHECKING:
    from mcp.server.mcpserver import MCPServer

    from ragcli.server import ServeSettings, Service
    from ragcli.session import Session

INSTRUCTIONS = (
    "Søger i og besvarer spørgsmål ud fra lokale danske dokumenter. ask_documents giver et svar, "
    "der er tjekket mod kilderne, med fil og side for hver kilde; decision er 'answered' (modellens "
    "svar, verificeret), 'extracted' (en kildesætning citeret) eller 'refused' (kilderne svarer ikke). "
    "search_documents giver de bedste passager uden et genereret svar."
)


@contextmanager
def _tool_errors() -> Iterator[None]:
    """ragcli's own failures (an empty question, a full queue, an unknown index) as the tool's error text."""
    from mcp.server.mcpserver.exceptions import ToolError

    from ragcli.errors import RagcliError
    from ragcli.server import Busy

    try:
        yield
    except (RagcliError, Busy) as exc:
        raise ToolError(str(exc)) from None


def _arguments_message(tool: str, error) -> str:
    """A tool's rejected arguments in one line: each field with what was wrong with it, never
    the value sent. The SDK answers with pydantic's own text, which quotes the input, so a CPR
    number a client sent as `k` came back in the error (and in any log of the exchange)."""
    problems = "; ".join(
        f"{'.'.join(str(part) for part in e['loc']) or 'argumenter'}: {e['msg']}" for e in error.errors(include_input=False)
    )
    return f"ugyldige argumenter til {tool}: {problems}"


def _server_type(show_cpr: bool) -> type[MCPServer]:
    """MCPServer whose tool errors say what was wrong without quoting what was sent, and with
    CPR numbers masked as everywhere `ragcli serve` answers (an unknown index's or tool's name
    is the client's text too)."""
    from mcp.server.mcpserver import MCPServer
    from mcp.server.mcpserver.exceptions import ToolError, UnexpectedToolError
    from pydantic import ValidationError

    from ragcli.privacy import mask_cpr

    class RagcliMCPServer(MCPServer):
        async def call_tool(self, name, arguments, context=None):  # type: ignore[override]
            try:
                return await super().call_tool(name, arguments, context)
            except UnexpectedToolError:
                raise  # a crash: the SDK logs it and sends the client no text of it
            except ToolError as exc:
                cause = exc.__cause__
                message = _arguments_message(name, cause) if isinstance(cause, ValidationError) else str(exc)
                # one line, whatever the client put in a name ("Unknown tool: x\n…")
                message = " ".join((message if show_cpr else mask_cpr(message)).split())
                if message == str(exc):
                    raise
                raise ToolError(message) from cause

    return RagcliMCPServer


def build_server(service: Service) -> MCPServer:
    from ragcli import __version__

    server = _server_type(service.settings.show_cpr)("ragcli", instructions=INSTRUCTIONS, version=__version__, log_level="WARNING")
    several = len(service.indexes) > 1
    index_note = f" Indeks: {', '.join(service.indexes)} (angiv index)." if several else ""

    @server.tool(description="Find de passager i dokumenterne der bedst matcher query (ingen generering)." + index_note)
    async def search_documents(
        query: str, k: Annotated[int, Field(ge=1, le=100, strict=True)] = 5, index: str | None = None  # as over HTTP: "3" is no number
    ) -> wire.ToolSearchDict:
        with _tool_errors():
            found = await service.search(index, query, k, None)
        return wire.tool_search(found.query, found.index, found.hits)

    @server.tool(description="Besvar question ud fra dokumenterne, med kildehenvisninger (fil, side, citat) der er tjekket." + index_note)
    async def ask_documents(question: str, index: str | None = None) -> wire.ToolAnswerDict:
        cancel = threading.Event()
        with _tool_errors():
            served, params, _ = service.prepare_ask(index, question, {})
            service.queue.admit()
            try:
                answer = await service.ask(served, question, params, cancel)
            finally:
                cancel.set()  # a cancelled tool call stops its generation at the next token
        return wire.tool_answer(answer, served.name)

    return server


def run_stdio(
    settings: ServeSettings, names: list[str], open_session: Callable[[str], Session], on_ready: Callable[[], None] | None = None
) -> None:
    """Serve the tools over stdin/stdout until the client closes them."""
    from ragcli.server import Service

    # stdout is the protocol's channel: anything printed while the models load would corrupt it.
    with redirect_stdout(sys.stderr):
        service = Service.open(settings, names, open_session)
    if on_ready:
        on_ready()
    try:
        build_server(service).run("stdio")
    finally:
        service.close()
