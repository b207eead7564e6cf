"""One error tree (ragcli/errors.py): every expected failure is a RagcliError with its exit code,
and the command line turns each kind into one line on stderr and that exit code."""

from __future__ import annotations

import ast
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import typer
from conftest import REPO, TEST_EMBED_MODEL, interruptible
from test_cli import _one_line_error, ragcli

from ragcli.errors import DataError, Interrupted, ModelError, RagcliError, UsageError


def test_each_known_failure_is_a_kind_of_ragcli_error():
    from ragcli.batch import BatchError
    from ragcli.config import ConfigError
    from ragcli.evaluation import EvalError
    from ragcli.ingest import IngestError
    from ragcli.loading import DocumentError
    from ragcli.locking import IndexLocked
    from ragcli.registry import ModelNotAvailable
    from ragcli.store import IndexProblem

    kinds = {
        IndexProblem: DataError, IngestError: DataError, IndexLocked: DataError, DocumentError: DataError,
        BatchError: DataError, EvalError: DataError, ModelNotAvailable: ModelError, ConfigError: UsageError,
    }
    for cls, kind in kinds.items():
        assert issubclass(cls, kind) and issubclass(cls, RagcliError), cls
        assert cls("x").exit_code == kind.exit_code
    assert [k.exit_code for k in (RagcliError, UsageError, DataError, ModelError, Interrupted)] == [1, 2, 1, 1, 130]
    # The kinds are siblings: a model failure is never taken for a data or usage failure.
    assert not issubclass(ModelError, DataError) and not issubclass(UsageError, DataError)


def test_errors_module_is_the_bottom_layer():
    tree = ast.parse((REPO / "ragcli" / "errors.py").read_text(encoding="utf-8"))
    imported = [n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)]
    imported += [a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names]
    assert not [m for m in imported if m.split(".")[0] == "ragcli"], imported


@pytest.mark.parametrize("error", [UsageError("bad"), DataError("bad"), ModelError("bad"), Interrupted("stopped")])
def test_user_errors_uses_the_exit_code_the_error_carries(error, capsys):
    from ragcli.cli import user_errors

    with pytest.raises(typer.Exit) as info, user_errors():
        raise error
    assert info.value.exit_code == type(error).exit_code
    lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert lines == [f"Fejl: {error}"]


@pytest.mark.slow
def test_each_kind_through_the_real_command_line(tmp_path):
    # UsageError: a config file with a value out of range.
    config = tmp_path / "config.toml"
    config.write_text("temperature = 9.0\n", encoding="utf-8")
    usage = ragcli("--config", str(config), "info", "--index", "x", home=tmp_path)
    assert usage.returncode == 2 and "temperature" in _one_line_error(usage)

    # DataError, several sources: a missing index, an unusable question file, a bad eval file, a locked index.
    missing = ragcli("info", "--index", "findes-ikke", home=tmp_path)
    assert missing.returncode == 1 and "findes-ikke" in _one_line_error(missing)
    questions = tmp_path / "spørgsmål.xlsx"
    questions.write_text("Hvad?\n", encoding="utf-8")
    batch = ragcli("batch", str(questions), "--index", "x", home=tmp_path)
    assert batch.returncode == 1 and ".jsonl" in _one_line_error(batch)
    rows = tmp_path / "dev.jsonl"
    rows.write_text("{ikke json\n", encoding="utf-8")
    evaluation = ragcli("eval", str(rows), "--index", "x", home=tmp_path)
    assert evaluation.returncode == 1 and "dev.jsonl" in _one_line_error(evaluation)
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "note.txt").write_text("Biblioteket åbner kl. 10.", encoding="utf-8")
    (tmp_path / "laast").mkdir()
    (tmp_path / "laast" / "ingest.lock").write_text(str(os.getpid()))  # this test process is alive
    locked = ragcli("ingest", str(docs), "--index", "laast", "--embed-model", TEST_EMBED_MODEL, home=tmp_path)
    assert locked.returncode == 1 and f"process {os.getpid()}" in _one_line_error(locked)

    # ModelError: an embedding model that is not installed (nothing is fetched at run time).
    model = ragcli("ingest", str(docs), "--index", "m", "--embed-model", "ingen/sådan-model", home=tmp_path)
    assert model.returncode == 1 and "ingen/sådan-model" in _one_line_error(model)

    # Interrupted: Ctrl-C while the command waits for questions on stdin.
    env = {**os.environ, "NO_COLOR": "1", "RAGCLI_HOME": str(tmp_path)}
    process = subprocess.Popen(
        [sys.executable, "-m", "ragcli.cli", "batch", "-", "--index", "x"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
        preexec_fn=interruptible,
    )
    time.sleep(3)
    process.send_signal(signal.SIGINT)
    stdout, stderr = process.communicate(timeout=60)
    result = subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)
    assert result.returncode == Interrupted.exit_code and "afbrudt" in _one_line_error(result)


def test_errors_py_is_importable_alone():
    # The bottom layer loads without the rest of the package's dependencies.
    code = "import sys; import ragcli.errors; print(sorted(m for m in sys.modules if m.startswith('ragcli')))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=Path(REPO), timeout=60)
    assert result.returncode == 0, result.stderr
    # (ragcli.baseline, the CPU check every import runs first, uses the standard library only)
    assert result.stdout.strip() == "['ragcli', 'ragcli.baseline', 'ragcli.errors']"


@pytest.mark.slow
def test_max_tokens_that_fill_the_context_is_a_usage_error_naming_both(tmp_path):
    # Was a ValueError traceback from prompting.build_prompt.
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "a.txt").write_text("Skoledagen starter kl. 8.00 for alle elever i Fjordby.", encoding="utf-8")
    ragcli("ingest", str(docs), "--index", "lille", "--embed-model", TEST_EMBED_MODEL, home=tmp_path / "home", check=True)
    result = ragcli("ask", "Hvornår starter skoledagen?", "--index", "lille", "--max-tokens", "4096", "--n-ctx", "1024", home=tmp_path / "home")
    assert result.returncode == 2
    line = _one_line_error(result)
    assert "--max-tokens" in line and "--n-ctx" in line and "Traceback" not in result.stderr
    assert "only 0 are left" in line  # not "only -3592", as it had been when --max-tokens passed --n-ctx
