"""`ragcli doctor` through the real command line: real models, a real generation and embedding."""

from __future__ import annotations

import json

import pytest
from test_cli import ragcli


@pytest.mark.slow
def test_doctor_passes_and_names_the_loaded_cpu_backend(tmp_path):
    result = ragcli("doctor", "--json", home=tmp_path / "home")
    assert result.returncode == 0, result.stdout + result.stderr
    report = json.loads(result.stdout)
    checks = {c["name"]: c for c in report["checks"]}
    assert report["ok"] is True
    assert checks["llama.cpp backend"]["detail"].startswith("loaded libggml-cpu-")
    assert checks["generation"]["status"] == "ok" and "one token" in checks["generation"]["detail"]
    assert checks["embedding"]["status"] == "ok"
    assert checks["llm model"]["status"] == "ok" and "sha256 verified" in checks["llm model"]["detail"]
    assert checks["ocr"]["status"] in ("ok", "warn")  # missing Tesseract is a warning, not a failure


@pytest.mark.slow
def test_doctor_fails_with_exit_1_on_an_unusable_index_home(tmp_path):
    not_a_folder = tmp_path / "file"
    not_a_folder.write_text("x")
    result = ragcli("doctor", "--no-models", "--home", str(not_a_folder), home=tmp_path)
    assert result.returncode == 1
    line = next(line for line in result.stdout.splitlines() if "index home" in line)
    assert line.startswith("✗") and str(not_a_folder) in line and "is a file, not a folder" in line
    # a check changes nothing: a home that does not exist yet is not made
    result = ragcli("doctor", "--no-models", "--home", str(tmp_path / "ny" / "hjem"), home=tmp_path)
    line = next(line for line in result.stdout.splitlines() if "index home" in line)
    assert line.startswith("✓") and "ingest will create it" in line and not (tmp_path / "ny").exists()


@pytest.mark.slow
def test_doctor_reports_a_broken_config_file(tmp_path):
    config = tmp_path / "config.toml"
    config.write_text("k = [unclosed\n")
    result = ragcli("--config", str(config), "doctor", "--no-models", "--json", home=tmp_path)
    # doctor is where one looks for what is wrong: the file is one failed check among the
    # others (it had stopped doctor before its first check, as it stops every other command)
    assert result.returncode == 1, result.stderr
    checks = {c["name"]: c for c in json.loads(result.stdout)["checks"]}
    assert checks["config"]["status"] == "fail" and str(config) in checks["config"]["detail"]
    assert checks["index home"]["status"] == "ok"
    other = ragcli("--config", str(config), "info", home=tmp_path)
    assert other.returncode == 2 and other.stderr.startswith("Fejl:") and str(config) in other.stderr
    # a pipe (--config <(…)) is read once, when the command line starts: doctor reports what
    # was read then (read again, it had been empty: "0 settings", exit 0)
    import os
    import subprocess
    import sys

    for text, status in (("k = [unclosed\n", "fail"), ("k = 7\n", "ok")):
        read, write = os.pipe()
        os.write(write, text.encode())
        os.close(write)
        env = {**os.environ, "HF_HUB_OFFLINE": "1", "NO_COLOR": "1", "RAGCLI_HOME": str(tmp_path)}
        piped = subprocess.run(
            [sys.executable, "-m", "ragcli.cli", "--config", f"/dev/fd/{read}", "doctor", "--no-models", "--json"],
            capture_output=True, text=True, env=env, pass_fds=(read,), timeout=120,
        )
        os.close(read)
        check = next(c for c in json.loads(piped.stdout)["checks"] if c["name"] == "config")
        assert check["status"] == status, check
        assert status == "fail" or check["detail"].endswith("1 settings")


@pytest.mark.slow
def test_doctor_reports_a_model_cache_it_cannot_write_as_a_failed_check(tmp_path):
    # the model package assembles the GGUF under ~/.cache; HOME a file was a traceback, and --json printed nothing
    import os
    import subprocess
    import sys

    home_file = tmp_path / "home"
    home_file.write_text("x")
    env = {**os.environ, "HOME": str(home_file), "HF_HUB_OFFLINE": "1", "NO_COLOR": "1", "RAGCLI_HOME": str(tmp_path / "idx")}
    env.pop("XDG_CACHE_HOME", None)
    env.pop("XDG_CONFIG_HOME", None)
    result = subprocess.run([sys.executable, "-m", "ragcli.cli", "doctor", "--json"], capture_output=True, text=True, env=env, timeout=600)
    assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr
    checks = {c["name"]: c for c in json.loads(result.stdout)["checks"]}
    assert checks["llm model"]["status"] == "fail" and "Not a directory" in checks["llm model"]["detail"]
