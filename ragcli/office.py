"""Office formats Danish public bodies produce: Word (.docx), OpenDocument text (.odt), e-mail (.eml).

They have no pages, so each is cut into *sections* that take a page's place: a .docx or
.odt starts a new section at every heading (and after a long run without one), so a
citation "s. 3" of such a file means its third section, which begins with its heading.
An e-mail's first section is its headers and body; each readable attachment follows as
its own sections, headed "Bilag: <name>".

Every file here comes from outside and may be hostile, so before any parser sees it:
the file's size is bounded; a .docx/.odt (a zip archive) is refused when its members
would unpack to more than MAX_UNCOMPRESSED bytes (a zip bomb) or when it has too many
members, two members of one name, or an XML part over MAX_XML_PART; python-docx and odfpy
then parse it in a child process with limits on memory and CPU time (office_child.py),
since a small file within all those limits can still take gigabytes or hours to parse.
An e-mail's nesting of parts is counted before it is parsed (the stdlib parser recurses
once per level), its attachments are read only to MAX_ATTACHMENT_DEPTH, and the whole
mail within MAX_DOCUMENT_CHARS and MAIL_SECONDS.
An attachment's file name is only ever shown and used for its suffix: it is never a
path on disk (attachments are read from fresh temporary files with fixed names).
"""

from __future__ import annotations

import io
import posixpath
import re
import signal
import tempfile
import threading
import time
import zipfile
from pathlib import Path, PurePosixPath

from ragcli.child_process import ChildTimeout, ChildWorker
from ragcli.cleaning import clean_text
from ragcli.loading import MAX_DOCUMENT_CHARS, MIN_TEXT_CHARS, DocumentError, LoadedDocument, clean_title, html_to_text
from ragcli.schema import Page

OFFICE_SUFFIXES = (".docx", ".odt", ".eml")
MAX_FILE_BYTES = 64 * 1024 * 1024  # a larger .docx/.odt/.eml is not a letter or a report
MAX_UNCOMPRESSED = 256 * 1024 * 1024  # all members of a .docx/.odt, unpacked
MAX_XML_PART = 64 * 1024 * 1024  # the one XML member that holds the text
MAX_MEMBERS = 5000
MAX_MIME_CONTAINERS = 100  # multipart and message/rfc822 parts in one e-mail
MAX_PARTS = 1000
MAX_ATTACHMENT_DEPTH = 3  # a mail attached to a mail attached to a mail, no further
MAX_ATTACHMENT_BYTES = 32 * 1024 * 1024
MAIL_SECONDS = 120  # one e-mail with all its attachments (each has its parser's own limits too)
SECTION_MAX_PARAGRAPHS = 60  # a long run without headings is cut, so a citation stays findable
SECTION_MAX_CHARS = 8000
ATTACHMENT_SUFFIXES = (".pdf", ".txt", ".md", ".html", ".htm", ".docx", ".odt", ".eml")
OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # old binary Office file, or an encrypted .docx


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0][:160] if text else type(exc).__name__


def _read_bounded(path: Path, kind: str) -> bytes:
    try:
        size = path.stat().st_size
        if size == 0:
            raise DocumentError("empty file (0 bytes)")
        if size > MAX_FILE_BYTES:
            raise DocumentError(f"{kind} too large ({size // (1024 * 1024)} MB; at most {MAX_FILE_BYTES // (1024 * 1024)} MB)")
        with path.open("rb") as handle:
            return handle.read(MAX_FILE_BYTES + 1)
    except PermissionError:
        raise DocumentError("permission denied") from None
    except OSError as exc:
        raise DocumentError(f"cannot read file: {exc.strerror or exc}") from None


_TARGET = re.compile(r"""Target\s*=\s*["']([^"']+)["']""")


def _checked_zip(data: bytes, kind: str, text_member: str) -> None:
    """Refuse a zip bomb or a broken archive before a parser unpacks anything.

    The sizes checked are the ones the archive declares; Python's zipfile never unpacks a
    member past its declared size, so a lying header cannot get more than this through.
    """
    if data.startswith(OLE_MAGIC):
        raise DocumentError(f"encrypted or old binary {kind} (password-protected, or .doc saved as {kind})")
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        members = archive.infolist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, OSError) as exc:
        raise DocumentError(f"corrupt {kind} (not a readable zip archive: {_first_line(exc)})") from None
    with archive:  # read once: the relationships below come from the same directory
        _check_members(archive, members, kind, text_member)


def _check_members(archive: zipfile.ZipFile, members: list[zipfile.ZipInfo], kind: str, text_member: str) -> None:
    """_checked_zip's checks of what the archive declares: counts, sizes, names."""
    if len(members) > MAX_MEMBERS:
        raise DocumentError(f"corrupt {kind}: {len(members)} members in the archive (at most {MAX_MEMBERS})")
    total = sum(m.file_size for m in members)
    if total > MAX_UNCOMPRESSED:
        raise DocumentError(
            f"{kind} would unpack to {total // (1024 * 1024)} MB (at most {MAX_UNCOMPRESSED // (1024 * 1024)} MB; zip bomb?)"
        )
    names = [m.filename for m in members]
    if len(set(names)) != len(names):
        # zipfile reads the last of two alike, the checks below would see the first
        raise DocumentError(f"corrupt {kind}: two members of the archive have the same name")
    if text_member not in names:
        raise DocumentError(f"corrupt {kind}: no {text_member} in the archive")
    # Every XML part, not only the one named, and the part the relationships name as the body
    # (python-docx finds it there: "word/document.bin" with a small decoy document.xml):
    # the parser reads styles and settings as well.
    parsed = {m.filename for m in members if m.filename.lower().endswith((".xml", ".rels"))}
    by_name = {m.filename: m for m in members}
    if "_rels/.rels" in by_name and by_name["_rels/.rels"].file_size <= MAX_XML_PART:
        relations = archive.read("_rels/.rels").decode("utf-8", errors="replace")
        parsed.update(target.lstrip("/") for target in _TARGET.findall(relations))
    part = max((by_name[name] for name in parsed if name in by_name), key=lambda m: m.file_size)
    if part.file_size > MAX_XML_PART:
        raise DocumentError(f"{kind} XML part too large ({part.file_size // (1024 * 1024)} MB; zip bomb?)")


def _over_text_limit(characters: int, so_far: str = "") -> None:
    """One document holds at most MAX_DOCUMENT_CHARS: said as soon as a reader passes it."""
    if characters > MAX_DOCUMENT_CHARS:
        raise DocumentError(f"too much text (over {MAX_DOCUMENT_CHARS:,} characters{so_far})")


class _Blocks(list):
    """(is_heading, text) blocks of a .docx or .odt, counted as they are added: a parser stops
    at the document limit (a merged cell's text repeated down a thousand rows had sent 61
    million characters back from the child)."""

    characters = 0

    def add(self, heading: bool, text: str) -> None:
        self.append((heading, text))
        self.characters += len(text)
        _over_text_limit(self.characters)


def _sections(blocks: list[tuple[bool, str]]) -> list[str]:
    """(is_heading, text) blocks in document order → section texts, each starting at a heading."""
    sections: list[list[str]] = []
    body = 0  # body paragraphs in the current section
    chars = 0
    for heading, text in blocks:
        text = text.strip()
        if not text:
            continue
        new_section = not sections or (heading and body > 0) or body >= SECTION_MAX_PARAGRAPHS or chars >= SECTION_MAX_CHARS
        if new_section:
            sections.append([])
            body = chars = 0
        sections[-1].append(text)
        if not heading:
            body += 1
        chars += len(text)
    return ["\n".join(lines) for lines in sections]


def _document(path: Path, doc_name: str, texts: list[str], title: str, kind: str) -> LoadedDocument:
    cleaned = [clean_text(t) for t in texts]
    cleaned = [t for t in cleaned if t]
    if sum(len(t) for t in cleaned) < MIN_TEXT_CHARS:
        raise DocumentError(f"no text (the {kind} holds no text)")
    first_line = next((ln for t in cleaned for ln in t.splitlines() if len(ln) > 3), "")
    title = clean_title(title) or clean_title(first_line[:120]) or path.stem
    resolved = str(path.resolve())
    pages = [Page(doc=doc_name, path=resolved, page=i + 1, text=t, title=title) for i, t in enumerate(cleaned)]
    return LoadedDocument(doc=doc_name, path=path, title=title, pages=pages)


# ---------------------------------------------------------------- .docx


def _is_heading(style_name: str) -> bool:
    name = style_name.strip().lower()
    return name.startswith(("heading", "overskrift", "title", "titel"))


# A number a form writes in boxes or columns: digits, or a lone dash, in each cell.
_DIGIT_CELL = re.compile(r"\d{1,6}|[-\u2010-\u2015\u2212]")


def _row_text(cells: list[str]) -> str:
    """One table row as a line, its cells joined by " | " (each cell given once: see
    docx_blocks for merged cells). Cells that together write one CPR number ("150585",
    "4321", or a form's ten digit boxes) are joined without the bars, so that privacy's
    pattern sees the number it has to mask; no other cells are run together."""
    from ragcli.privacy import CPR_PATTERN

    kept = [c.strip() for c in cells if c.strip()]
    joined: list[str] = []
    i = 0
    while i < len(kept):
        end = i
        while end < len(kept) and _DIGIT_CELL.fullmatch(kept[end]):
            end += 1
        run = next((j for j in range(end, i + 1, -1) if CPR_PATTERN.fullmatch("".join(kept[i:j]))), None)
        if run is None:
            joined.append(kept[i])
            i += 1
        else:
            joined.append("".join(kept[i:run]))
            i = run
    return " | ".join(joined)


# no "<" inside: linear on a crafted run of "<Relationship " without an end
_RELATIONSHIP = re.compile(r"<Relationship\b[^<>]*/>")


def _without_dangling_relationships(data: bytes) -> bytes:
    """The archive with every internal relationship to a missing part left out (a converter
    that wrote no docProps/core.xml but named it; python-docx refuses the whole file)."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as source, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        names = set(source.namelist())
        for item in source.infolist():
            blob = source.read(item)
            # only the relationships python-docx reads: the package's and those of parts it holds
            if item.filename.endswith(".rels") and (item.filename == "_rels/.rels" or _rels_source(item.filename) in names):
                # "word/_rels/document.xml.rels" speaks for parts under "word"
                folder = posixpath.dirname(posixpath.dirname(item.filename))
                text = blob.decode("utf-8", errors="replace")
                blob = _RELATIONSHIP.sub(lambda m, folder=folder: _if_present(m.group(0), folder, names), text).encode("utf-8")
            target.writestr(item, blob)
    return out.getvalue()


def _rels_source(rels: str) -> str:
    """The part a relationships file speaks for: "word/_rels/document.xml.rels" → "word/document.xml"."""
    folder, _, name = rels.rpartition("/_rels/")
    return posixpath.join(folder, name.removesuffix(".rels"))


def _if_present(element: str, folder: str, names: set[str]) -> str:
    """A <Relationship/> element, or nothing when it points inside the archive at a part it lacks."""
    from urllib.parse import unquote

    found = _TARGET.search(element)
    if found is None or re.search(r"""TargetMode\s*=\s*["']External""", element):
        return element
    name = found.group(1)
    name = name.lstrip("/") if name.startswith("/") else posixpath.normpath(posixpath.join(folder, name))
    return element if name in names or unquote(name) in names else ""


def docx_blocks(data: bytes) -> tuple[list[tuple[bool, str]], str]:
    """The (is_heading, text) blocks of a .docx body in order (tables a row a line), and its title."""
    import docx
    from docx.table import Table

    try:
        document = docx.Document(io.BytesIO(data))
    except KeyError as exc:  # a relationship to a part the archive lacks: Word opens such files
        if "There is no item named" not in str(exc):
            raise
        document = docx.Document(io.BytesIO(_without_dangling_relationships(data)))
    # Each paragraph's style looked up by its id in one table: python-docx's `paragraph.style`
    # searches the styles part for every paragraph (1 ms each here; 8,000 styles and 8,000
    # paragraphs took 32 s, and a 40,000-paragraph report 41 s).
    heading = {s.style_id: _is_heading(s.name or "") for s in document.styles if s.style_id}
    blocks = _Blocks()
    for block in document.iter_inner_content():
        if isinstance(block, Table):
            for row in block.rows:
                # A merged cell is the same cell in every grid place it spans: once is enough.
                # Two cells that hold the same text are two values ("3.200 kr. | 3.200 kr.").
                cells = list({id(cell._tc): cell for cell in row.cells}.values())
                blocks.add(False, _row_text([cell.text for cell in cells]))
        else:
            blocks.add(heading.get(block._p.style or "", False), block.text)
    try:
        properties = document.core_properties
        title = properties.title or ""
        # A file without core properties gets python-docx's made-up ones: "Word Document".
        if properties.last_modified_by == "python-docx" and title == "Word Document":
            title = ""
    except Exception:  # noqa: BLE001 - broken metadata must not sink a readable document
        title = ""
    return blocks, title


def blocks_of(kind: str, data: bytes) -> tuple[list[tuple[bool, str]], str]:
    """The blocks and title of a .docx ("DOCX") or .odt ("ODT") held in `data` (run in
    office_child.py, never in ragcli's own process: see _load_zipped)."""
    return docx_blocks(data) if kind == "DOCX" else odt_blocks(data)


def problem(kind: str, exc: BaseException) -> str:
    """The one-line reason a parser's exception gives for refusing a file."""
    if isinstance(exc, DocumentError):
        return str(exc)
    if isinstance(exc, RecursionError):
        return f"corrupt {kind}: text nested too deeply"
    # whatever a hostile file makes python-docx/lxml/odfpy raise is this file's problem
    return f"corrupt {kind} ({type(exc).__name__}): {_first_line(exc)}"


# The parsers' child (ragcli/office_child.py): its address space, CPU seconds per file and
# wall-clock seconds per file (the child may wait for a core: two readers share two cores
# with embedding). A 40,000-paragraph report parses in about 3 s.
OFFICE_MEMORY_BYTES = 1 << 30
OFFICE_CPU_SECONDS = 60
OFFICE_WALL_SECONDS = 120.0
_OFFICE = ChildWorker("office_child.py", OFFICE_MEMORY_BYTES)


def _load_zipped(path: Path, doc_name: str, kind: str, text_member: str, stop: threading.Event | None = None) -> LoadedDocument:
    """A .docx or .odt: bounded read and zip checks here, then the parser in a child process
    with limits on memory and time, so that a hostile file costs this file, not the ingest."""
    data = _read_bounded(path, kind)
    _checked_zip(data, kind, text_member)
    if stop is not None and stop.is_set():  # an interrupted ingest does not start another parse
        raise DocumentError("not read: the ingest was interrupted")
    try:
        answer = _OFFICE.ask({"kind": kind, "cpu": OFFICE_CPU_SECONDS}, OFFICE_WALL_SECONDS, data)
    except ChildTimeout:
        raise DocumentError(f"{kind} takes too long to read (over {OFFICE_WALL_SECONDS:.0f} s; a hostile file?)") from None
    if "problem" in answer:
        raise DocumentError(str(answer["problem"]))
    if "error" in answer:
        raise DocumentError(_child_failure(kind, answer))
    blocks = [(bool(heading), str(text)) for heading, text in answer["blocks"]]
    return _document(path, doc_name, _sections(blocks), str(answer["title"]), kind)


def _child_failure(kind: str, answer: dict) -> str:
    """Why the parsers' child gave no blocks, in one line."""
    code = answer.get("exit")
    # a C++ allocation that failed under the memory limit aborts (SIGABRT)
    if answer["error"] == "memory limit" or code == -signal.SIGABRT:
        return f"{kind} too large to read (over {OFFICE_MEMORY_BYTES >> 20} MB of memory; a hostile file?)"
    if code == -signal.SIGXCPU:  # RLIMIT_CPU's soft limit
        return f"{kind} takes too long to read (over {OFFICE_CPU_SECONDS} s of CPU time; a hostile file?)"
    how = f"signal {-code}" if isinstance(code, int) and code < 0 else f"exit {code}"
    return f"{kind} could not be read (the parser's process ended: {how})"


def load_docx(path: Path, doc_name: str, stop: threading.Event | None = None) -> LoadedDocument:
    return _load_zipped(path, doc_name, "DOCX", "word/document.xml", stop)


# ---------------------------------------------------------------- .odt


def odt_blocks(data: bytes) -> tuple[list[tuple[bool, str]], str]:
    """The (is_heading, text) blocks of an .odt body in order (tables a row a line), and its title."""
    from odf import teletype
    from odf.namespaces import DCNS, TABLENS, TEXTNS
    from odf.opendocument import load

    document = load(io.BytesIO(data))
    if not str(document.mimetype).startswith("application/vnd.oasis.opendocument.text"):
        raise DocumentError(f"not an OpenDocument text ({document.mimetype or 'no mimetype'})")
    blocks = _Blocks()
    # An explicit stack, not recursion: lists nested ten thousand deep are a file, not a crash.
    stack = list(reversed(document.text.childNodes))
    while stack:
        node = stack.pop()
        qname = getattr(node, "qname", None)
        if qname == (TEXTNS, "h"):
            blocks.add(True, teletype.extractText(node))
        elif qname == (TEXTNS, "p"):
            blocks.add(False, teletype.extractText(node))
        elif qname == (TABLENS, "table-row"):
            cells = [teletype.extractText(c) for c in node.childNodes if getattr(c, "qname", None) == (TABLENS, "table-cell")]
            blocks.add(False, _row_text(cells))
        elif qname is not None and qname[1] not in ("tracked-changes", "sequence-decls", "variable-decls"):
            stack.extend(reversed(node.childNodes))
    title = ""
    for node in document.meta.childNodes:
        if getattr(node, "qname", None) == (DCNS, "title"):
            title = teletype.extractText(node)
    return blocks, title


def load_odt(path: Path, doc_name: str, stop: threading.Event | None = None) -> LoadedDocument:
    return _load_zipped(path, doc_name, "ODT", "content.xml", stop)


# ---------------------------------------------------------------- .eml

_CONTAINER = re.compile(rb"content-type:\s*(?:multipart|message)/", re.IGNORECASE)


def attachment_label(name: str) -> str:
    """An attachment's file name for display only: its last path component, cleaned, bounded."""
    # A NUL in a name is no PDF ligature (clean_text would make it "fi"): drop it first.
    last = PurePosixPath(name.replace("\\", "/").replace("\x00", "")).name
    label = clean_title(last)
    if len(label) > 120:
        # not cut inside a number: "…_150585-43" is half a CPR number that masking cannot see;
        # the suffix kept, as it says how the attachment is read
        suffix = PurePosixPath(label).suffix
        suffix = suffix if re.fullmatch(r"\.[A-Za-z0-9]{1,5}", suffix) else ""
        label = re.sub(r"[\d\W_]+$", "", label[:110]) + "…" + suffix
    return label if label.strip("…") else "bilag"


def _header(message, name: str) -> str:
    try:
        value = message.get(name)
        return re.sub(r"\s+", " ", str(value)).strip() if value is not None else ""
    except Exception:  # noqa: BLE001 - a malformed header is left out, the mail is still read
        return ""


def _text_of(part) -> str:
    try:
        return part.get_content()
    except Exception:  # noqa: BLE001 - an unknown charset or broken transfer encoding: read what is there
        payload = part.get_payload(decode=True) or b""
        return payload.decode("utf-8", errors="replace") if isinstance(payload, bytes) else str(payload)


def _parse_mail(raw: bytes):
    from email import policy
    from email.parser import BytesParser

    containers = len(_CONTAINER.findall(raw))
    if containers > MAX_MIME_CONTAINERS:
        raise DocumentError(f"e-mail with {containers} nested or multipart parts (at most {MAX_MIME_CONTAINERS})")
    try:
        return BytesParser(policy=policy.default).parsebytes(raw)
    except RecursionError:
        raise DocumentError("e-mail nested too deeply") from None
    except Exception as exc:  # noqa: BLE001 - the parser is lenient; what it still raises is this file's problem
        raise DocumentError(f"corrupt e-mail ({type(exc).__name__}): {_first_line(exc)}") from None


class _MailBudget:
    """What one e-mail may cost, all its attachments together: the characters one document
    may hold (each attachment was checked alone: 30 attachments of 19 million characters were
    read, 576 million, before the mail was refused), and wall-clock seconds, past which the
    attachments not yet read are left out with a note (the mail and those read are kept)."""

    def __init__(self, stop: threading.Event | None = None) -> None:
        self.characters = 0
        self.deadline = time.monotonic() + MAIL_SECONDS
        self.stop = stop
        self.notes: list[str] = []  # attachments of a readable kind that could not be read, and why

    def spend(self, texts: list[str]) -> None:
        self.characters += sum(len(t) for t in texts)
        self.check()

    def check(self) -> None:
        _over_text_limit(self.characters, " with the attachments read so far")

    def time_left(self) -> bool:
        return time.monotonic() < self.deadline and not (self.stop is not None and self.stop.is_set())


def _mail_sections(message, depth: int, workdir: Path, budget: _MailBudget) -> list[str]:
    """Headers and body of a parsed mail as the first section, then each readable attachment's sections."""
    plain: list[str] = []
    html: list[str] = []
    attachments: list[tuple[str, object, bool]] = []  # (name, part or mail, is a forwarded mail)
    stack = [(message, 0)]
    seen = 0
    while stack:
        part, level = stack.pop()
        seen += 1
        if seen > MAX_PARTS or level > MAX_MIME_CONTAINERS:
            raise DocumentError(f"e-mail with more than {MAX_PARTS} parts")
        content_type = part.get_content_type()
        filename = None
        try:
            filename = part.get_filename()
        except Exception:  # noqa: BLE001 - a broken Content-Disposition is a part without a name
            filename = None
        if content_type == "message/rfc822":
            inner = part.get_payload()
            inner = inner[0] if isinstance(inner, list) and inner else inner
            if inner is not None and not isinstance(inner, str):
                attachments.append((filename or _header(inner, "subject") or "videresendt e-mail", inner, True))
            continue
        if part.is_multipart():
            children = part.get_payload() or []
            stack.extend((child, level + 1) for child in reversed(children))
            continue
        if filename or part.get_content_disposition() == "attachment":
            attachments.append((filename or "bilag", part, False))
        elif content_type == "text/plain":
            plain.append(_text_of(part))
        elif content_type == "text/html":
            html.append(html_to_text(_text_of(part))[0])
    header_lines = [
        f"{label}: {value}"
        for label, name in (("Emne", "subject"), ("Fra", "from"), ("Til", "to"), ("Cc", "cc"), ("Dato", "date"))
        if (value := _header(message, name))
    ]
    body = "\n\n".join(t for t in (plain or html) if t.strip())
    sections = ["\n".join(header_lines) + ("\n\n" + body if body else "")]
    budget.spend(sections)
    for number, (name, attached, is_mail) in enumerate(attachments, start=1):
        sections += _attachment_sections(attachment_label(str(name)), attached, is_mail, depth, workdir, number, budget)
    return sections


def _attachment_sections(
    label: str, attached, is_mail: bool, depth: int, workdir: Path, number: int, budget: _MailBudget
) -> list[str]:
    """The sections of one attachment, the first headed "Bilag: <name>"; none if it cannot be read."""
    suffix = PurePosixPath(label.lower()).suffix
    if depth >= MAX_ATTACHMENT_DEPTH or not (is_mail or suffix in ATTACHMENT_SUFFIXES):
        return []  # other kinds (.exe, images) are left out, as in a folder
    if not budget.time_left():
        budget.notes.append(f"bilag {label} er ikke læst: e-mailens tid ({MAIL_SECONDS} s) var brugt")
        return []
    try:
        if is_mail:
            # A forwarded mail (message/rfc822): its own headers, body and attachments.
            texts = _mail_sections(attached, depth + 1, workdir, budget)  # spent there
        else:
            payload = attached.get_payload(decode=True)
            if not isinstance(payload, bytes) or not payload:
                raise DocumentError("empty attachment")
            if len(payload) > MAX_ATTACHMENT_BYTES:
                raise DocumentError(f"attachment too large ({len(payload) >> 20} MB; at most {MAX_ATTACHMENT_BYTES >> 20} MB)")
            if suffix == ".eml":
                texts = _mail_sections(_parse_mail(payload), depth + 1, workdir, budget)  # spent there
            else:
                # A fixed name in a fresh folder: the attachment's own name never touches the file system.
                target = workdir / f"bilag-{depth}-{number}{suffix}"
                target.write_bytes(payload)
                try:
                    from ragcli.loading import load_document

                    texts = [page.text for page in load_document(target, label, budget.stop).pages]
                finally:
                    target.unlink(missing_ok=True)
                budget.spend(texts)
    except (Exception, RecursionError) as exc:  # noqa: BLE001 - an unreadable or hostile attachment is skipped, not the mail
        budget.check()  # … unless the mail is over its budget: then the whole mail is refused
        reason = str(exc) if isinstance(exc, DocumentError) else problem("attachment", exc)
        budget.notes.append(f"bilag {label} er ikke læst: {reason}")
        return []
    texts = [t for t in texts if t.strip()]
    if not texts:
        return []
    texts[0] = f"Bilag: {label}\n{texts[0]}"
    return texts


def load_eml(path: Path, doc_name: str, stop: threading.Event | None = None) -> LoadedDocument:
    raw = _read_bounded(path, "e-mail")
    message = _parse_mail(raw)
    if not message.keys() and not message.get_payload():
        raise DocumentError("not an e-mail (no headers)")
    budget = _MailBudget(stop)
    try:
        with tempfile.TemporaryDirectory(prefix="ragcli-eml-") as folder:
            sections = _mail_sections(message, 0, Path(folder), budget)
    except DocumentError:
        raise
    except RecursionError:
        raise DocumentError("e-mail nested too deeply") from None
    except Exception as exc:  # noqa: BLE001 - this file's problem only
        raise DocumentError(f"corrupt e-mail ({type(exc).__name__}): {_first_line(exc)}") from None
    loaded = _document(path, doc_name, sections, _header(message, "subject"), "e-mail")
    loaded.notes.extend(budget.notes)
    return loaded


def load_office(path: Path, doc_name: str, stop: threading.Event | None = None) -> LoadedDocument:
    """Dispatch by suffix (loading.load_document calls this for OFFICE_SUFFIXES)."""
    suffix = path.suffix.lower()
    if suffix == ".docx":
        return load_docx(path, doc_name, stop)
    if suffix == ".odt":
        return load_odt(path, doc_name, stop)
    if suffix == ".eml":
        return load_eml(path, doc_name, stop)
    raise DocumentError(f"unsupported file type {suffix!r}")
