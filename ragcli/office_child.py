"""Blocks of a .docx or .odt, parsed in a child process that ragcli.office starts.

python-docx and odfpy build a Python object (or an lxml element) for every XML element
of the parts they read — the body, and the styles, settings and metadata parts besides —
at a few hundred bytes each. A 300 KB .docx whose styles part unpacks to 200 MB of empty
elements took 4.9 GB; a 38 KB one whose merged cell repeats 1 MB of text down 60 rows gave
61 million characters. So these parsers never run in ragcli's process: office.py starts this
file as a script (``python -I office_child.py MEMORY_BYTES PACKAGE_ROOT``, see
ragcli/child_process.py), which caps its own address space, and each request's CPU
seconds, before it parses, and answers no more text than one document may hold.

Protocol: a JSON line {"kind": "DOCX" | "ODT", "cpu": S, "bytes": N} followed by the N
bytes of the file (already read and checked by the parent); the answer is one JSON line,
{"blocks": [[is_heading, text], ...], "title": "..."}, {"problem": "..."} for a file the
parser refuses (a DocumentError's reason), or {"error": "memory limit"}.
"""

from __future__ import annotations

import json
import sys


def main(argv: list[str]) -> int:
    sys.path.insert(0, argv[1])  # the parent's ragcli, installed or not (see child_process.ChildWorker)
    from ragcli.child_process import child_setup, cpu_seconds

    memory = child_setup(argv)
    from ragcli.office import blocks_of, problem  # the parsers loaded once, before the first request's time

    stdin = sys.stdin.buffer
    for line in stdin:
        request = json.loads(line)
        data = stdin.read(int(request["bytes"]))
        cpu_seconds(int(request["cpu"]))
        before = _peak()
        try:
            blocks, title = blocks_of(request["kind"], data)
            answer = {"blocks": blocks, "title": title}
        except MemoryError:
            answer = {"error": "memory limit"}
        except Exception as exc:  # noqa: BLE001 - the parent words it as this file's problem
            # lxml reports an allocation that failed as a syntax error ("unknown error"): this
            # file took the address space to its limit
            after = _peak()
            hit = after > before and after > 0.9 * memory
            answer = {"error": "memory limit"} if hit else {"problem": problem(request["kind"], exc)}
        del data
        sys.stdout.write(json.dumps(answer, ensure_ascii=False) + "\n")
        sys.stdout.flush()
    return 0


def _peak() -> int:
    """The most address space this process has held, in bytes (Linux; else 0)."""
    try:
        with open("/proc/self/status") as status:
            return next(int(line.split()[1]) * 1024 for line in status if line.startswith("VmPeak:"))
    except (OSError, StopIteration, ValueError, IndexError):
        return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
