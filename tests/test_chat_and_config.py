"""The chat loop in a real pseudo-terminal, and settings from a config file."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pexpect = pytest.importorskip("pexpect", reason="pexpect drives the terminal (pip install -e '.[dev]')")


def test_chat_session_asks_streams_shows_sources_and_quits(small_index, tmp_path):
    home, name = small_index
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "NO_COLOR": "1", "TERM": "dumb", "COLUMNS": "200",
           "XDG_STATE_HOME": str(tmp_path / "state")}
    child = pexpect.spawn(
        sys.executable, ["-m", "ragcli.cli", "chat", "--index", name, "--home", str(home)],
        env=env, encoding="utf-8", timeout=180, dimensions=(50, 200),
    )
    child.expect("spørgsmål> ")
    child.sendline("Hvilken værdi skal Server.ehealth.mode have i produktion?")
    child.expect("Svar:")
    child.expect("spørgsmål> ")  # the answer streamed, the loop asks again
    child.sendline("/sources")
    child.expect("sds_ehdsi_drift")  # the table may fold the file name
    child.expect("spørgsmål> ")
    child.sendline("/temperature 0.7")
    child.expect("temperatur 0.7")
    child.sendline("/temperature varm")
    child.expect("Brug: /temperature")
    child.sendline("/temperature 0,3")  # as a Dane writes it: had been "Brug: …"
    child.expect("temperatur 0.3")
    child.sendline("/temperature")  # the value now
    child.expect("temperatur 0.3")
    child.sendline("/quit")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0
    history = (tmp_path / "state" / "ragcli" / "history").read_text()
    assert "Server.ehealth.mode" in history


def _cli(*args: str, env_extra: dict | None = None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAGCLI_")}
    env.update({"HF_HUB_OFFLINE": "1", "NO_COLOR": "1", **(env_extra or {})})
    return subprocess.run([sys.executable, "-m", "ragcli.cli", *args], capture_output=True, text=True, env=env, timeout=300)


def test_precedence_default_config_env_flag(small_index, tmp_path):
    home, name = small_index
    config = tmp_path / "config.toml"
    config.write_text(f'index = "{name}"\nhome = "{home}"\nk = 2\nmode = "lexical"\n')

    shown = json.loads(_cli("--config", str(config), "config", "--json").stdout)
    sources = {row["name"]: (row["value"], row["source"]) for row in shown["settings"]}
    assert sources["k"] == (2, "config") and sources["temperature"] == (0.0, "default")

    from_config = json.loads(_cli("--config", str(config), "search", "GovCloud", "--json").stdout)
    assert from_config["index"] == name and from_config["mode"] == "lexical" and len(from_config["hits"]) == 2

    from_env = _cli("--config", str(config), "search", "GovCloud", "--json", env_extra={"RAGCLI_INDEX": "andet"})
    assert from_env.returncode == 1 and "andet" in from_env.stderr  # env beats the config file

    from_flag = _cli("--config", str(config), "search", "GovCloud", "--json", "--index", name, "--k", "1",
                     env_extra={"RAGCLI_INDEX": "andet"})
    assert json.loads(from_flag.stdout)["index"] == name and len(json.loads(from_flag.stdout)["hits"]) == 1

    config.write_text('indeks = "x"\n')
    bad = _cli("--config", str(config), "info")
    assert bad.returncode == 2 and "unknown setting" in bad.stderr


def test_config_shows_the_defaults_the_commands_use():
    """`ragcli config` lists each setting's default; it must be the one the commands really apply."""
    import typer

    from ragcli.cli import app
    from ragcli.config import SETTINGS

    commands = typer.main.get_command(app).commands
    checked = 0
    for setting in SETTINGS:
        for command in setting.commands:
            params = {p.name: p for p in commands[command].params}
            if setting.name in params and setting.default is not None:
                default = params[setting.name].default
                assert (str(default) if isinstance(default, Path) else default) == setting.default, (setting.name, command)
                checked += 1
    assert checked > 10


@pytest.mark.slow
def test_a_question_that_cannot_be_answered_ends_that_question_not_the_chat(small_index, llm_path):
    """A pasted page, then a real question: the first gets one error line, the second its answer."""
    import io

    from rich.console import Console

    import ragcli
    from ragcli.chat import run_chat

    home, name = small_index
    lines = iter(["Hvad står der her? " * 250, "Hvilken værdi skal Server.ehealth.mode have i produktion?"])

    def read_line(prompt: str) -> str:
        try:
            return next(lines)
        except StopIteration:
            raise EOFError from None

    shown = io.StringIO()
    answers: list[ragcli.Answer] = []
    with ragcli.Session.open(name, home=home, model=llm_path) as session:
        run_chat(
            Console(file=shown, width=200), lambda q, p, on_token: session.ask(q, p, on_token=on_token), session.params(),
            answers.append, lambda a: None, lambda a: None, read_line=read_line,
        )
    assert "Fejl: the question has 4,749 characters; at most 4,000 are allowed" in shown.getvalue()
    assert [a.question for a in answers] == ["Hvilken værdi skal Server.ehealth.mode have i produktion?"]
    assert answers[0].citations


def test_the_chat_history_written_to_disk_has_cpr_numbers_masked():
    import readline

    from ragcli.chat import mask_history

    readline.clear_history()
    for line in ("Hvornår starter skoledagen?", "Hvad har borgeren 150585-4321 søgt om?"):
        readline.add_history(line)
    mask_history(readline, show_cpr=True)
    assert readline.get_history_item(2) == "Hvad har borgeren 150585-4321 søgt om?"
    mask_history(readline)
    assert [readline.get_history_item(i) for i in (1, 2)] == ["Hvornår starter skoledagen?", "Hvad har borgeren [skjult] søgt om?"]
    readline.clear_history()


def test_a_history_file_that_is_a_pipe_is_left_alone(tmp_path, monkeypatch):
    # A FIFO there (or a link to one) had hung chat before its banner.
    import readline

    from ragcli.chat import _setup_readline

    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    folder = tmp_path / "state" / "ragcli"
    folder.mkdir(parents=True)
    os.mkfifo(folder / "history")
    _setup_readline()()  # neither reading nor saving waits for a writer
    (folder / "history").unlink()
    os.mkfifo(tmp_path / "roer")
    (folder / "history").symlink_to(tmp_path / "roer")
    _setup_readline()()
    # a link to a regular file, as dotfiles keep it, is history as before
    (folder / "history").unlink()
    (folder / "history").symlink_to(tmp_path / "historik.txt")
    readline.add_history("Hvornår starter skoledagen?")
    _setup_readline()()
    assert "Hvornår starter skoledagen?" in (tmp_path / "historik.txt").read_text()
