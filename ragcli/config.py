"""Settings from a TOML file, with a clear order of precedence.

    built-in defaults  <  config file  <  environment variables  <  command-line flags

The file is `$XDG_CONFIG_HOME/ragcli/config.toml` (usually `~/.config/ragcli/config.toml`),
or the one named by `--config` / `RAGCLI_CONFIG`. It holds flat keys, e.g.:

    index = "kommune"
    home = "~/ragcli/indexes"
    k = 8
    temperature = 0.2

The CLI hands the file's values to click as each command's `default_map`; click then
resolves flag > environment variable > default_map > default by itself.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ragcli.errors import UsageError
from ragcli.grounding import DEFAULT_MIN_COVERAGE


class ConfigError(UsageError):
    """The config file cannot be read or holds an unknown setting."""


def _text(value: Any) -> bool:
    return isinstance(value, str) and bool(value.strip())


def _number(low: float, high: float, integer: bool = False) -> Callable[[Any], bool]:
    def check(value: Any) -> bool:
        kinds = (int,) if integer else (int, float)
        return isinstance(value, kinds) and not isinstance(value, bool) and low <= value <= high

    return check


def _index_name(value: Any) -> bool:
    import re

    return isinstance(value, str) and re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}", value) is not None


def _store_url(value: Any) -> bool:
    return isinstance(value, str) and (value == "local" or value.startswith(("postgresql://", "postgres://")))


def _server_url(value: Any) -> bool:
    """An http(s) address with a host (and a port in range, if any): checked when the config is
    read, as every other key is ("not a url" had passed `config` and `doctor` and failed at ask,
    naming a --llm-url the user never typed). ask checks it in full (generation._check_server_url)."""
    import re

    found = re.fullmatch(r"https?://(?:[^/@\s]*@)?(\[[0-9a-fA-F:.]+\]|[^/:@\s\[\]]+)(?::(\d{1,5}))?(?:/\S*)?", value) if isinstance(value, str) else None
    return bool(found) and (found.group(2) is None or 0 < int(found.group(2)) < 65536)


def hide_password(value: Any) -> Any:
    """A connection URL as shown: postgresql://user:***@host/db (a password never reaches the screen)."""
    import re

    return re.sub(r"^(postgres(?:ql)?://[^:/@?]*:)[^@/?]*@", r"\1***@", value) if isinstance(value, str) else value


@dataclass(frozen=True)
class Setting:
    name: str
    envvar: str | None
    default: Any
    commands: tuple[str, ...]
    help: str
    valid: Callable[[Any], bool] = _text
    expected: str = "a non-empty text"


ALL = ("ingest", "ask", "search", "info", "batch", "eval", "chat")
SETTINGS: tuple[Setting, ...] = (
    Setting("index", "RAGCLI_INDEX", "default", ALL, "index name under the index home", _index_name, "an index name (letters, digits, '.', '_', '-')"),
    Setting("home", "RAGCLI_HOME", "indexes", ALL, "folder holding the indexes"),
    Setting("store", "RAGCLI_STORE", None, ALL, "PostgreSQL URL holding the indexes instead of the home folder", _store_url, "a postgresql:// URL or local"),
    Setting("embed_model", "RAGCLI_EMBED_MODEL", None, ("ingest",), "embedding model for new indexes"),
    Setting("model", "RAGCLI_MODEL", None, ("ask", "batch", "chat"), "GGUF file (default: Gemma-3-270M)"),
    Setting(
        "llm_url", "RAGCLI_LLM_URL", None, ("ask", "batch", "chat"), "OpenAI-compatible server instead of a GGUF",
        _server_url, "an http:// or https:// address (http://localhost:8080)",
    ),
    Setting("k", None, 5, ("ask", "search", "batch", "chat"), "passages to retrieve", _number(1, 50, integer=True), "a whole number from 1 to 50"),
    Setting(
        "mode", None, "hybrid", ("ask", "search", "batch", "eval", "chat"), "dense, lexical or hybrid",
        lambda v: v in ("dense", "lexical", "hybrid"), "dense, lexical or hybrid",
    ),
    Setting("temperature", None, 0.0, ("ask", "batch", "chat"), "sampling temperature", _number(0.0, 2.0), "a number from 0 to 2"),
    Setting("max_tokens", None, 160, ("ask", "batch", "chat"), "longest answer, in tokens", _number(1, 4096, integer=True), "a whole number from 1 to 4096"),
    Setting(
        "min_coverage", None, DEFAULT_MIN_COVERAGE, ("ask", "batch", "chat"), "refuse below this question coverage",
        _number(0.0, 1.0), "a number from 0 to 1",
    ),
    Setting(
        "show_cpr", None, False, ("ask", "search", "batch", "chat"), "show CPR numbers instead of [skjult] (entitled users only)",
        lambda v: isinstance(v, bool), "true or false",
    ),
)
BY_NAME = {s.name: s for s in SETTINGS}


def default_config_path() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "ragcli" / "config.toml"


MAX_CONFIG_BYTES = 1024 * 1024


def load_config(path: Path | None) -> tuple[Path, dict[str, Any]]:
    """The config file's path and its settings (empty when the default file does not exist)."""
    explicit = path is not None
    path = path or default_config_path()
    if not path.exists():
        if explicit:
            raise ConfigError(f"no such config file: {path}")
        return path, {}
    # a settings file is a few lines, in a file or a pipe (--config <(…)): /dev/zero was read
    # until the kernel killed ragcli, so no device, and no more than MAX_CONFIG_BYTES of a pipe
    if not (path.is_file() or path.is_fifo()):
        raise ConfigError(f"config {path} is not a regular file")
    try:
        with path.open("rb") as handle:
            raw = handle.read(MAX_CONFIG_BYTES + 1)
    except OSError as exc:
        raise ConfigError(f"cannot read config {path}: {exc.strerror or exc}") from None
    if len(raw) > MAX_CONFIG_BYTES:
        raise ConfigError(f"config {path} is larger than {MAX_CONFIG_BYTES // 1024} KiB; a settings file is a few lines")
    try:
        data = tomllib.loads(raw.decode("utf-8-sig"))  # Notepad's BOM too
    except UnicodeDecodeError as exc:  # e.g. saved as UTF-16 by Notepad: TOML is UTF-8
        raise ConfigError(f"cannot read config {path}: not UTF-8 text (byte {exc.start})") from None
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"cannot read config {path}: {exc}") from None
    except RecursionError:
        raise ConfigError(f"cannot read config {path}: nested too deep") from None
    unknown = sorted(set(data) - set(BY_NAME))
    if unknown:
        raise ConfigError(f"{path}: unknown setting(s) {', '.join(unknown)} (known: {', '.join(BY_NAME)})")
    for name, value in data.items():
        setting = BY_NAME[name]
        if not setting.valid(value):
            raise ConfigError(f"{path}: {name} must be {setting.expected}, not {value!r}")
    if "home" in data:
        try:
            data["home"] = str(Path(str(data["home"])).expanduser())
        except RuntimeError:  # "~ragcli/indexes", meant as "~/ragcli/indexes": no user ragcli
            raise ConfigError(f"{path}: home names an unknown user: {data['home']!r} (meant ~/…?)") from None
    return path, data


def default_map(settings: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Per-command defaults for click, from the config file's settings."""
    per_command: dict[str, dict[str, Any]] = {}
    for name, value in settings.items():
        for command in BY_NAME[name].commands:
            per_command.setdefault(command, {})[name] = value
    return per_command


def effective(settings: dict[str, Any], environ: dict[str, str] | None = None) -> list[dict[str, Any]]:
    """Each setting's value and where it came from (flags are per command, so not shown here)."""
    environ = dict(os.environ) if environ is None else environ
    rows = []
    for s in SETTINGS:
        if s.envvar and environ.get(s.envvar):
            value, source = environ[s.envvar], f"env {s.envvar}"
        elif s.name in settings:
            value, source = settings[s.name], "config"
        else:
            value, source = s.default, "default"
        rows.append({"name": s.name, "value": hide_password(value), "source": source, "help": s.help})
    return rows
