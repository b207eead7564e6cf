"""Every failure ragcli expects is a RagcliError; the command line catches the base once.

    RagcliError                 exit_code 1
    ├── UsageError              2    the command was used wrongly (bad setting, too small a context)
    │   ├── config.ConfigError       the settings file or a setting in it cannot be used
    │   ├── prompting.ContextTooSmall  --max-tokens leaves no room in --n-ctx for the prompt (also a ValueError)
    │   └── server.UnknownIndex      a request names an index the server does not serve (HTTP 404)
    ├── DataError               1    an index, a document or a question file cannot be used
    │   ├── store.IndexProblem       missing, damaged or mismatched index (model, analysis, schema)
    │   │   ├── store.IndexNotFound    there is no index of that name in the store
    │   │   └── pgstore.PgStoreError   the PostgreSQL server cannot be reached or used (rights, pgvector)
    │   ├── ingest.IngestError       nothing to ingest, model or chunking mismatch
    │   ├── locking.IndexLocked      another process is writing the index
    │   ├── loading.DocumentError    one document cannot be read (ingest skips it)
    │   ├── batch.BatchError         the questions or results file cannot be used
    │   ├── results_file.ResultsFileError  an --out file exists and is not a results file
    │   ├── evaluation.EvalError     the evaluation file cannot be used
    │   └── record.RecordError       a record cannot be written, or a file is not a readable record
    ├── ModelError              1    a model is missing, broken or its server unreachable
    │   └── registry.ModelNotAvailable
    │       └── generation.LLMServerError  an OpenAI-compatible server refused, failed or is unreachable
    └── Interrupted             130  the user stopped the work (Ctrl-C)

The module names beside the tree say where each concrete class lives; they keep their
names, so `except IndexProblem` still works. This module imports nothing from ragcli:
it is the bottom layer every other module may import. tests/test_error_tree.py checks
that this drawing names every RagcliError in ragcli under its real base class.

Deliberately outside the tree, because none of them reaches the user as an error:

    cli.Terminated (BaseException)  SIGTERM raised where the program is, so `finally` blocks
                                    run as for Ctrl-C; user_errors turns it into one line, exit 143
    child_process.ChildTimeout      a parser's child (pdfium, python-docx) ran out of time; loading
                                    and office turn it into a DocumentError and stop the child
    ocr.OcrUnavailable              no Tesseract or no Danish model; loading turns it into a
                                    DocumentError with the install hint, annotate reads without OCR
    ocr.OcrStopped                  an interrupted ingest abandoned a file's OCR; the interruption
                                    itself is what the user is told about
    ingest._Stopped                 an interrupted ingest stopped embedding a document on the
                                    background thread; the interruption is what the user is told about
    server.Busy                     the answer queue is full: HTTP 503 with Retry-After, a state
                                    of the server, not a failure of the request
"""

from __future__ import annotations

__all__ = ["RagcliError", "UsageError", "DataError", "ModelError", "Interrupted", "one_line"]


def one_line(message: object) -> str:
    """A message on one line, its runs of whitespace as single spaces: a server's or a
    model's words can hold newlines, and an error is shown as one line."""
    return " ".join(str(message).split())


class RagcliError(Exception):
    """A failure the user can act on; its message is one line and `exit_code` is the process's."""

    exit_code: int = 1


class UsageError(RagcliError):
    """The command or the settings ask for something that cannot work."""

    exit_code = 2


class DataError(RagcliError):
    """An index, a document or a question file cannot be used as it is."""

    exit_code = 1


class ModelError(RagcliError):
    """A model is not installed, fails verification, cannot be loaded or cannot be reached."""

    exit_code = 1


class Interrupted(RagcliError):
    """The user stopped the work before it finished."""

    exit_code = 130
