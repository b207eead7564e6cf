"""`ragcli chat`: ask question after question with the models loaded once.

Line editing and history come from readline (history kept in
$XDG_STATE_HOME/ragcli/history). Ctrl-C stops the answer being written, not the
session; Ctrl-D or /quit ends it.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from rich.console import Console

from ragcli.answering import AskParams
from ragcli.errors import Interrupted, RagcliError, one_line
from ragcli.rendering import DraftStream
from ragcli.schema import Answer
from ragcli.terminal import plain

PROMPT = "spørgsmål> "
HELP = (
    "Skriv et spørgsmål, eller en kommando:\n"
    "  /sources          kilderne til det sidste svar\n"
    "  /explain          alle RAG-trin for det sidste svar\n"
    "  /temperature 0.7  sæt temperaturen (0 = altid samme svar)\n"
    "  /annotate MAPPE   de citerede PDF-sider med belægget markeret (--png: også som billeder)\n"
    "  /record FIL.json  en optegnelse af svaret og dets belæg (.json eller .md)\n"
    "  /help             denne hjælp\n"
    "  /quit             afslut (eller Ctrl-D)"
)


def history_path() -> Path:
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "ragcli" / "history"


def mask_history(readline, show_cpr: bool = False) -> None:
    """CPR numbers in the history masked, before it is written to disk (a question that names a
    citizen had been kept there as typed). In the session itself the arrow keys still bring
    back the question as typed."""
    if show_cpr:
        return
    from ragcli.privacy import mask_cpr

    for position in range(readline.get_current_history_length()):
        item = readline.get_history_item(position + 1) or ""  # 1-based, unlike replace_history_item
        masked = mask_cpr(item)
        if masked != item:
            readline.replace_history_item(position, masked)


def _setup_readline(show_cpr: bool = False) -> Callable[[], None]:
    """Enable line editing and history; returns a function that saves the history."""
    try:
        import readline
    except ImportError:  # not on every platform; input() still works
        return lambda: None
    path = history_path()
    # Only a regular file (a link to one too, as dotfiles keep it), or none yet: a FIFO there
    # had hung chat before its banner.
    try:
        usable = path.is_file() or not path.exists()
    except OSError:  # a state folder we may not look into: no history, not the end of chat
        usable = False
    if usable:
        try:
            readline.read_history_file(path)
        except OSError:
            pass
    readline.set_history_length(1000)

    def save() -> None:
        if not usable:
            return
        try:
            mask_history(readline, show_cpr)
            path.parent.mkdir(parents=True, exist_ok=True)
            readline.write_history_file(path)
        except OSError:
            pass

    return save


def run_chat(
    console: Console,
    ask: Callable[[str, AskParams, Callable[[str], None]], Answer],
    params: AskParams,
    render_after: Callable[[Answer], None],
    render_sources: Callable[[Answer], None],
    render_explain: Callable[[Answer], None],
    read_line: Callable[[str], str] = input,
    export: Callable[[str, str, Answer], None] | None = None,
) -> None:
    save_history = _setup_readline(params.show_cpr)
    console.print(f"ragcli chat — {HELP.splitlines()[0]} /help viser kommandoerne.")
    last: Answer | None = None
    try:
        while True:
            try:
                line = read_line(PROMPT).strip()
            except EOFError:
                console.print()
                break
            except KeyboardInterrupt:
                console.print()
                continue
            except UnicodeDecodeError:
                console.print("Linjen er ikke gyldig UTF-8; skriv spørgsmålet igen.")
                continue
            if any(0xDC80 <= ord(c) <= 0xDCFF for c in line):  # undecodable bytes (surrogateescape)
                console.print("Linjen er ikke gyldig UTF-8; skriv spørgsmålet igen.")
                continue
            if not line:
                continue
            if line.startswith("/"):
                command, _, argument = line.partition(" ")
                if command in ("/quit", "/exit", "/q"):
                    break
                if command == "/help":
                    console.print(HELP)
                elif command in ("/sources", "/kilder"):
                    if last is None:
                        console.print("Intet svar endnu.")
                    else:
                        render_sources(last)
                elif command == "/explain":
                    if last is None:
                        console.print("Intet svar endnu.")
                    else:
                        render_explain(last)
                elif command in ("/annotate", "/record") and export is not None:
                    if last is None:
                        console.print("Intet svar endnu.")
                    else:
                        export(command, argument, last)
                elif command == "/temperature":
                    if not argument.strip():  # the value now, as asked
                        console.print(f"temperatur {params.generation.temperature}")
                        continue
                    try:
                        value = float(argument.strip().replace(",", "."))  # "0,7" as a Dane writes it
                        if not 0.0 <= value <= 2.0:
                            raise ValueError
                    except ValueError:
                        console.print("Brug: /temperature TAL (0 til 2)")
                        continue
                    params = replace(params, generation=replace(params.generation, temperature=value))
                    console.print(f"temperatur {value}")
                else:
                    console.print(plain(f"Ukendt kommando {command}; /help viser kommandoerne."))
                continue
            try:
                with DraftStream(console) as draft:
                    last = ask(line, params, draft)
            except KeyboardInterrupt:
                console.print("(afbrudt)")
                continue
            except Interrupted:
                raise
            except RagcliError as exc:
                # One question that cannot be answered (too long for the model's context, a
                # server that refused it) ends that question, not the conversation.
                console.print(plain("Fejl: " + one_line(exc)))
                continue
            render_after(last)
    finally:
        save_history()
