"""Blocks of a .docx or .odt, parsed in a child process that ragcli.office starts.

python-docx and odfpy build a Python object (or an lxml element) for every XML element
of the parts they read — the body, and the styles, settings and metadata parts besides —
at a few hundred bytes each, and python-docx looks each paragraph's style up one by one.
A 300 KB .docx whose styles part unpacks to 200 MB of empty elements took 4.9 GB; one with
8,000 styles and 8,000 paragraphs took 32 s (and grows with the square); two million empty
paragraphs took 160 s. So these parsers never run in ragcli's process: office.py starts this
file as a script (``python -I office_child.py MEMORY_BYTES``, see ragcli/child_process.py),
which caps its own address space, and each request's CPU seconds, before it parses.

Protocol: a JSON line {"kind": "DOCX" | "ODT", "cpu": S, "bytes": N} followed by the N
bytes of the file (already read and checked by the parent); the answer is one JSON line,
{"blocks": [[is_heading, text], ...], "title": "..."}, {"problem": "..."} for a file the
parser refuses (a DocumentError's reason), or {"error": "memory limit"}.
"""

from __future__ import annotations

import json
import resource
import sys

from ragcli.child_process import limit


def main(argv: list[str]) -> int:
    limit(resource.RLIMIT_AS, int(argv[0]))
    limit(resource.RLIMIT_CORE, 0)  # a crash must not write a core file the size of the limit
    from ragcli.office import blocks_of, problem  # the parsers loaded once, before the first request's time

    stdin = sys.stdin.buffer
    for line in stdin:
        request = json.loads(line)
        data = stdin.read(int(request["bytes"]))
        used = resource.getrusage(resource.RUSAGE_SELF)
        limit(resource.RLIMIT_CPU, int(used.ru_utime + used.ru_stime) + 1 + int(request["cpu"]))
        try:
            blocks, title = blocks_of(request["kind"], data)
            answer = {"blocks": blocks, "title": title}
        except MemoryError:
            answer = {"error": "memory limit"}
        except Exception as exc:  # noqa: BLE001 - the parent words it as this file's problem
            # lxml reports an allocation that failed as a syntax error ("unknown error")
            answer = {"error": "memory limit"} if _near(int(argv[0])) else {"problem": problem(request["kind"], exc)}
        del data
        sys.stdout.write(json.dumps(answer, ensure_ascii=True) + "\n")
        sys.stdout.flush()
    return 0


def _near(memory_bytes: int) -> bool:
    """Whether this process's address space came close to its limit (Linux; else False)."""
    try:
        with open("/proc/self/status") as status:
            peak = next(int(line.split()[1]) * 1024 for line in status if line.startswith("VmPeak:"))
    except (OSError, StopIteration, ValueError, IndexError):
        return False
    return peak > 0.9 * memory_bytes


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
