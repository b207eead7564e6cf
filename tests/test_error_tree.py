"""Every exception class ragcli defines is a RagcliError, drawn in errors.py's tree under its real base.

Fast: imports each ragcli module once (no model is loaded) and reads errors.py's docstring.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import pkgutil
import re
from pathlib import Path

import ragcli
from ragcli import errors
from ragcli.errors import RagcliError

PACKAGE = Path(ragcli.__file__).resolve().parent
# Exceptions that never reach the user as an error; errors.py says why for each.
DELIBERATE = {"cli.Terminated", "ingest._Stopped", "child_process.ChildTimeout", "ocr.OcrStopped", "ocr.OcrUnavailable", "server.Busy"}
TREE_LINE = re.compile(r"^ {4}(?P<indent>(?:[│ ] {3})*)[├└]── (?P<name>[\w.]+)(?:\s+(?P<code>\d+)\b)?")


def _short(cls: type) -> str:
    """How the tree names a class: bare for the kinds in errors.py, module.Class for the rest."""
    module = cls.__module__.removeprefix("ragcli.")
    return cls.__name__ if module == "errors" else f"{module}.{cls.__name__}"


def _exception_classes() -> dict[str, type]:
    found = {}
    for info in pkgutil.iter_modules(ragcli.__path__):
        module = importlib.import_module(f"ragcli.{info.name}")
        for value in vars(module).values():
            if inspect.isclass(value) and issubclass(value, BaseException) and value.__module__ == module.__name__:
                found[_short(value)] = value
    return found


def _drawn_tree() -> dict[str, tuple[str | None, int | None]]:
    """name → (parent name, exit code where the drawing gives one), from errors.py's docstring."""
    lines = errors.__doc__.splitlines()
    root = next(i for i, line in enumerate(lines) if line.strip().startswith("RagcliError"))
    drawn: dict[str, tuple[str | None, int | None]] = {"RagcliError": (None, int(lines[root].split()[-1]))}
    parents = ["RagcliError"]
    for line in lines[root + 1:]:
        match = TREE_LINE.match(line)
        if match is None:
            break  # the drawing ends at the first line that is not a branch
        depth = len(match["indent"]) // 4 + 1
        del parents[depth:]
        drawn[match["name"]] = (parents[depth - 1], int(match["code"]) if match["code"] else None)
        parents.append(match["name"])
    return drawn


def test_every_exception_defined_in_ragcli_is_a_ragcli_error_or_deliberately_not():
    classes = _exception_classes()
    assert DELIBERATE <= set(classes), "a deliberate exception was renamed or removed: update DELIBERATE and errors.py"
    outside = sorted(name for name, cls in classes.items() if not issubclass(cls, RagcliError))
    assert outside == sorted(DELIBERATE)
    for name in DELIBERATE:
        assert name in errors.__doc__, f"errors.py does not say why {name} is outside the tree"


def test_the_drawn_tree_names_every_ragcli_error_under_its_base():
    classes = {name: cls for name, cls in _exception_classes().items() if issubclass(cls, RagcliError)}
    drawn = _drawn_tree()
    assert set(drawn) == set(classes), "errors.py's tree and the classes ragcli defines differ"
    for name, (parent, code) in drawn.items():
        cls = classes[name]
        if parent is not None:
            # The nearest RagcliError among its bases (ContextTooSmall is also a ValueError).
            base = next(b for b in cls.__mro__[1:] if issubclass(b, RagcliError))
            assert _short(base) == parent, f"{name} derives from {_short(base)}, the tree draws it under {parent}"
        if code is not None:
            assert cls.exit_code == code, name


def test_no_exception_class_hides_inside_a_function():
    """The import walk sees module-level classes only; an exception defined in a function escapes it."""
    nested = []
    for path in sorted(PACKAGE.glob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        top_level = {id(node) for node in tree.body}
        for node in ast.walk(tree):
            if isinstance(node, ast.ClassDef) and id(node) not in top_level:
                bases = [ast.unparse(b) for b in node.bases]
                if any(re.search(r"(Error|Exception|Problem|Interrupt)$", b) for b in bases):
                    nested.append(f"{path.name}:{node.lineno} {node.name}({', '.join(bases)})")
    assert not nested
