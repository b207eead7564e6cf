"""Low-level Danish text analysis shared by grounding, evidence windows and verification.

Everything here is a pure function of text (plus, for rarity, the index's document
frequencies passed in), and imports only the bottom layer (cleaning, chunking's sentence
splitter, lexical's analyser), so any module above may use it.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Literal

from ragcli.chunking import sentence_spans
from ragcli.cleaning import FORMAT_CHARACTERS, flatten
from ragcli.lexical import analyze, danish_stopwords

REFUSAL = "Det fremgår ikke af dokumenterne."

_NUMBER = re.compile(r"\d+(?:[.,:]\d+)*")

# Words that shape a question but carry no content to look for in a passage.
_QUESTION_WORDS = (
    "hvilken hvilket hvilke hvor hvornår hvordan hvorfor hvem hvad mange meget "
    "ifølge står fremgår nævnt nævnes beskrives beskrevet opregner omtaler dokument dokumentet dokumenterne"
)
QUESTION_TERMS: frozenset[str] = frozenset(analyze(_QUESTION_WORDS))
# Light verbs and fillers: a sentence whose only new words are these says nothing new.
_LIGHT_WORDS = (
    "kl klokken lavet laver lave gjort gør får fået findes ligger står stod kan skal blev bliver hedder gælder "
    "sker ske også følgende nedenstående ovenstående"
)
LIGHT_TERMS: frozenset[str] = frozenset(analyze(_LIGHT_WORDS))

MONTHS = (
    "januar februar marts april maj juni juli august september oktober november december "
    "jan feb mar apr jun jul aug sep sept okt nov dec"
).split()
WEEKDAYS = "mandag tirsdag onsdag torsdag fredag lørdag søndag".split()
# Counts that make units of time a duration when written as a word: "to uger", "tre måneder",
# "two hours" ("én time", "one hour" are matched on their own: "en time" is also an appointment).
_DURATION_COUNTS = (
    "to tre fire fem seks syv otte ni ti elleve tolv fjorten tyve tredive halvanden "
    "two three four five six seven eight nine ten twelve twenty thirty"
).split()
# How often something happens: a time for "hvor ofte", no day for "hvilken dag".
_FREQUENCY_WORDS = r"dagligt?|ugentlig[et]?|månedlig[et]?|årlig[et]?|kvartalsvis|løbende|hver\s+(?:dag|uge|måned|år|morgen|aften)"
# A time: a year, a date, a month or weekday, a clock time, a duration (a number and a unit
# of time), or a frequency. A bare number is not one: "Hvornår afholdes …?" is not answered
# by "… webinars: https://…/90316096" (a near miss the looser rule, any number, let through).
_TIME_EXPRESSION = re.compile(
    r"\b(?:den\s+)?\d{1,2}\.\s*(?:" + "|".join(MONTHS) + r")\b"
    r"|\b(?:1[89]\d\d|20\d\d)\b"
    # "10/7", "10.7.2025", "10-07-2025"; not "10.7" without a year, which is a section number.
    r"|\b\d{1,2}/\d{1,2}(?:/\d{2,4})?\b|\b\d{1,2}[.-]\d{1,2}[.-]\d{2,4}\b"
    r"|\b(?:" + "|".join(MONTHS + WEEKDAYS) + r")\b"
    # "om mandagen", "mandage og onsdage", "på hverdage", "i weekenden"
    r"|\b(?:man|tirs|ons|tors|fre|lør|søn)dag(?:en|e|ene)\b|\bhverdag\w*|\bweekend\w*"
    r"|\bkl\.?\s*\d|\bklokken\s*\d|\bden\s+\d{1,2}\."
    # a duration: "72 timer(s)", "4-dages", "to uger", "en måned", "one hour"
    r"|\b\d+(?:[,.]\d+)?\s*-?\s*(?:sekunder|sek|minutter|min|timer|time|dage|dag|døgn|uger|uge|måneder|måned|mdr|år"
    r"|seconds?|minutes?|hours?|days?|weeks?|months?|years?)s?\b"
    r"|\b(?:én|one)\s+(?:sekund|minut|time|dag|døgn|uge|måned|år|second|minute|hour|day|week|month|year)\b"
    r"|\b(?:" + "|".join(_DURATION_COUNTS) + r")\s+(?:sekunder|minutter|timer|dage|døgn|uger|måneder|år"
    r"|seconds|minutes|hours|days|weeks|months|years)\b"
    r"|\b(?:" + _FREQUENCY_WORDS +
    r"|uger|måneder|døgnet|timer|minutter|ugers|måneders|døgns|timers)\b",  # "med ugers turnaround"
    re.IGNORECASE,
)
_YEAR = re.compile(r"(?:19|20)\d\d")
_WHEN_CLAUSE = re.compile(r"\bnår\b", re.IGNORECASE)
_BODY_OR_ROLE = re.compile(
    r"\b\w*(?:bestyrelsen|rådet|udvalget|styrelsen|ministeriet|myndigheden|kommunen|regionen|forvaltningen"
    r"|sekretariatet|leverandøren|afdelingen|direktøren|chefen|behandleren|lederen|borgeren|ansøgeren"
    # a role in the indefinite or plural too: "hos den lokale indsatsleder", "kunden", "driftsansvarlige"
    r"|chef|direktør|medarbejder|medarbejderen|medarbejdere|koordinator|koordinatoren|konsulent|konsulenten"
    r"|kunde|kunden|kunder|udbyderen|leverandør|administrator|administratoren|ejeren"
    # a council's own bodies, first in an agenda line: "Magistraten 17. juni"
    r"|magistraten|borgmesteren|borgmester|rådmanden|rådmand|direktionen|ledelsen)\b"
    # "leder", "behandler", "ansvarlig" are verbs and adjectives too: as roles only in a compound
    r"|\b\w{3,}(?:leder|ledere|behandler|ansvarlig|ansvarlige)\b",
    re.IGNORECASE,
)
# Words that open a Danish sentence without naming anything, beyond the stop words.
_SENTENCE_OPENERS = frozenset(
    "herefter derefter desuden endvidere derudover herudover bemærk således samtidig eksempelvis typisk "
    "dette denne disse det den der her hvis når".split()
)


def _common_word(word: str) -> bool:
    return word.lower() in _SENTENCE_OPENERS or word.lower() in danish_stopwords()


_WEB_NAME = re.compile(r"\b[\w-]+(?:\.[\w-]+)*\.(?:dk|com|org|net|eu|io)\b", re.IGNORECASE)
_CALLED_QUESTION = re.compile(r"\b(?:hvad hedder|hvad hed|hvilket navn|hvad er navnet)\b", re.IGNORECASE)
_VERSION_QUESTION = re.compile(r"\bversion", re.IGNORECASE)
# A section's number before its title ("3 Driftsmiljøet …", "2.1 Sikring …"), first or, dotted,
# where a heading runs on from the line before ("▪ RoleCatalogueAttributeStore.dll 1.2
# Forudsætninger Hvis man …").
_SECTION_NUMBER = re.compile(r"^\s*\d{1,2}(?:\.\d{1,2})*\.?\s+(?=[A-ZÆØÅ])")
# A date is no version: "Driftshaandbog.md 2025-06-02", "07.05.2018".
_DATE_LIKE = re.compile(r"\b\d{4}-\d{2}-\d{2}\b|\b\d{1,2}[./-]\d{1,2}[./-]\d{4}\b")
# A product's name before it makes it a version: "Docker 24.0.5 Community Edition".
_INNER_SECTION_NUMBER = re.compile(r"(?<!\S)(\S+)\s+\d{1,2}(?:\.\d{1,2})+\.?\s+(?=[A-ZÆØÅ][a-zæøå]+ [A-ZÆØÅ])")


def _without_inner_section_numbers(text: str) -> str:
    return _INNER_SECTION_NUMBER.sub(
        lambda m: m.group(0) if re.fullmatch(r"[A-ZÆØÅ][\w-]*|(?i:version|v\.?|udgave|release)", m.group(1)) else m.group(1) + " ",
        text,
    )
# A version number stands on its own: "1.1.0", "v2.0.0", "Server 2016" — not the digit of a
# name ("OS2rollekatalog") nor of an ordinal run into a word ("3.part").
_VERSION_NUMBER = re.compile(r"(?<![\w.])v?(\d+(?:[.,]\d+)*)(?!\w|\.[^\W\d])", re.IGNORECASE)
_CALLED_VERSION = re.compile(r"\b(?:version|v)\s?(\d+)\b(?![.,]\d)", re.IGNORECASE)
# "Hvornår på dagen …", "hvilket klokkeslæt …": only a clock time answers.
_CLOCK_QUESTION = re.compile(r"\b(?:på dagen|klokkeslæt|hvad tid)\b", re.IGNORECASE)
_CLOCK_TIME = re.compile(r"\b(?:kl\.?|klokken)\s*\d|\b\d{1,2}[.:]\d{2}\b", re.IGNORECASE)

# A word that names something: capitalised inside a sentence, an acronym, or a code.
_NAME = re.compile(r"(?<![\w.])(?:[A-ZÆØÅ][\w-]*[A-ZÆØÅ0-9][\w-]*|[A-ZÆØÅ]-\w[\w-]*|[A-ZÆØÅ][a-zæøåéü][\w-]*)")
# A page label, with the date a layout prints beside it in the header ("14. september 2022
# Side 15 af 16"): that date is when the document was printed, never an answer to "hvornår".
_HEADER_DATE = (
    r"(?:\d{1,2}\.\s*(?:" + "|".join(MONTHS) + r")\.?\s+\d{4,5}|\d{1,2}[./-]\d{1,2}[./-]\d{2,4}|\d{4}-\d{2}-\d{2})"
)
_PAGE_LABEL = re.compile(
    r"(?:\b" + _HEADER_DATE + r"\s+)?\b(?:side|page|s\.)\s*\d+\s*(?:af|of|/)\s*\d+\b", re.IGNORECASE
)
# A web page printed from a browser: "1 af 2 05-08-2025, 12:15", the page count beside the
# time of printing, at the foot of every page (a document of two pages has no running lines).
_PRINT_STAMP = re.compile(r"\b\d{1,3}\s*(?:af|of|/)\s*\d{1,3}\s+\d{1,2}[./-]\d{1,2}[./-]\d{2,4},?\s+\d{1,2}[:.]\d{2}\b")
# The web page's title and address beside it, cut short by the browser ("Når dit barn går i
# skole https://aarhus.dk/borger/pasning-skole-og-uddannelse/skole-sfo-og-kl...").
_PRINTED_ADDRESS = re.compile(r"^[^.:!?]{0,80}\bhttps?://\S+(?:\.\.\.|…)$")
# A file printed from an editor heads each page with its name and date ("Driftshaandbog.md
# 2025-06-02 / ePrescription og Patient Summary driftsvejledning …").
_PRINTED_FILE = re.compile(r"^\S+\.(?:md|txt|docx?|html?|pdf)\s+\d{4}-\d{2}-\d{2}\b(?:\s*/\s*[^.!?]{0,80})?$", re.IGNORECASE)

AnswerType = Literal["quantity", "number", "time", "name", "any"]

# How a Danish question says what kind of answer it wants; first match wins.
# Words that ask what something costs: a quantity cue, and what makes a question a cost
# question (answered in money, see _money).
_COST_WORDS = (r"\w*takst\w*", r"\w*pris(?:en)?", r"\w*gebyr\w*", "koste", "kostede", "betaler", "betale", "betales",
               "betalte")
# "Hvor mange penge afsættes …?" asks for an amount of money too, counted in kroner, not "penge".
_COST_QUESTION = re.compile(
    r"\b(?:" + "|".join(_COST_WORDS + ("koster", "kostet", r"\w*priser", "penge", "kroner")) + r")\b", re.IGNORECASE
)
_TYPE_CUES: tuple[tuple[AnswerType, re.Pattern[str]], ...] = tuple(
    (kind, re.compile(r"\b(" + "|".join(cues) + r")\b", re.IGNORECASE))
    for kind, cues in (
        ("time", ("hvornår", "hvilken dato", "hvilket år", "hvilket tidspunkt", "hvilken dag", "hvilket klokkeslæt",
                  "hvor længe", "hvor lang tid", "hvilken frist", "hvilken betalingsfrist", "tidsfrist", "hvor ofte",
                  "hvilken periode", "hvilket interval", r"\w*ugedag\w*", "tidspunkter")),
        ("quantity", ("hvor mange", "hvor meget", "hvor stor", "hvor stort", "hvor store", "hvor høj", "hvor lang",
                      "hvad koster", "procent", "procentdel",
                      "hvilket beløb", "hvilken pris", "antal", r"\w*beløb\w*", *_COST_WORDS,
                      # a measure is a number: "Hvilken fartgrænse …?" is not answered by
                      # "Venstre ønsker at sænke hastigheden …", but by "40 km/t"
                      r"hvilke[nt]? \w*(?:grænse|hastighed|vandføring|præcision|bredde|højde|længde|afstand|vægt)\w*",
                      "hvilken alder")),
        ("number", ("hvilken kode", "hvilket nummer", "hvilket tal", "hvilken værdi", "hvilket versionsnummer",
                    "hvilken port", "hvilke porte",
                    r"hvilke[nt]? \w*(?:kode|nummer|numre|interval)\w*", "hvilken version",
                    r"[\w.]+-version\w*", r"hvilke[nt]? [\w.-]+ og version\w*")),
        ("name", ("hvem", "hvilken myndighed", "hvilken organisation", "hvilke organisationer", "hvilken kommune",
                  "hvilken virksomhed", "hvilken leverandør", "hvilket firma", "hvilken styrelse",
                  "hvilket parti", "hvilke partier", "hvilken person", "hvilke personer",
                  r"hvilke[nt]? \w*(?:forening|foreninger|klub|klubber)",
                  # a thing that is called something has a name: "Hvad hedder samarbejdsværktøjet?"
                  "hvad hedder", "hvad hed", "hvilket navn", "hvad er navnet")),
    )
)


# Terminal escape sequences (CSI "ESC [ … letter", OSC "ESC ] … BEL/ST"), then any
# other control or format character: none of them is a word of a question.
_ESCAPES = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?|\x1b.?|\x9b[0-?]*[ -/]*[@-~]")
_CONTROLS = re.compile(f"[\x00-\x08\x0b-\x1f\x7f-\x9f{FORMAT_CHARACTERS}]")  # the set ingest drops, plus C0/C1


def strip_controls(text: str) -> str:
    """Drop escape sequences and control/format characters (zero-width, bidi) from user text."""
    return _CONTROLS.sub("", _ESCAPES.sub(" ", text))


def numbers_in(text: str) -> set[str]:
    """The numbers in a text, normalised ("1.850,5" and "1.850.5" compare equal; no trailing dot)."""
    return {n.replace(",", ".").rstrip(".") for n in _NUMBER.findall(text)}


# A year as a year: not inside a case number, a law or standard number, an amount or a
# code ("EMN-2025-003928", "910/2014", "27001:2022", "2050 kr."). A span ("2020-2024") and a
# school year ("2024/25") stand for every year they cover.
_YEAR_SPAN = re.compile(r"(?<![\w/:.-])((?:19|20)\d\d)\s*(?:-|–|/)\s*((?:19|20)?\d\d)(?![\w/:-]|[.,]\d)")
_YEAR_WORD = re.compile(
    r"(?<![\w/:.-])(?:19|20)\d\d(?![\w/:-]|[.,]\d|\s*(?:kr\b|kroner|dkk|euro|%|procent|pct))", re.IGNORECASE
)


def years_in(text: str) -> set[int]:
    years: set[int] = set()
    for first, last in _YEAR_SPAN.findall(text):
        start, end = int(first), int(last if len(last) == 4 else first[:2] + last)
        if start <= end <= start + 50:
            years.update(range(start, end + 1))
    years.update(int(y) for y in _YEAR_WORD.findall(_YEAR_SPAN.sub(" ", text)))
    return years


def other_year(claim: str, question: str) -> bool:
    """The claim names years, but none the question asks about: it is about another year
    ("Danmarkskort … 2023 … Vedtaget" does not say when the 2024 one was adopted)."""
    asked, said = years_in(question), years_in(claim)
    return bool(asked and said and not asked & said)


# "Driftsmodel 3", "gruppe 5": a word and the number that tells which one is meant.
_NUMBERED_NAME = re.compile(r"\b([A-Za-zÆØÅæøå][\w-]{2,})[ -](\d{1,4})\b(?![.,]\d)")
# Words before a number that say how many or when, not which one: "efter 14 dage", "mindst 3
# børn", "kl. 16" (besides the stop words: "om", "over", "under" …).
_NOT_A_NUMBERED_NAME = frozenset((
    "kl", "nr", "side", "ca", "cirka", "inden", "mindst", "højst", "senest", "tidligst", "per", "pr", "næsten",
    "omkring", "knap", "godt", "samt", "eller", "plus", "minus", "gange", "ialt",
))


@lru_cache(maxsize=4096)
def _numbered_names(question: str) -> tuple[tuple[str, str], ...]:
    """The question's (word, number) pairs that name which one is meant. Cached: extraction
    asks it of one question for every passage."""
    return tuple(
        (word, number) for word, number in _NUMBERED_NAME.findall(question)
        if word.lower() not in _NOT_A_NUMBERED_NAME and word.lower() not in danish_stopwords()
    )


# "D-brandhane", "type B-sag": a capital letter that tells which kind is meant.
_LETTERED_NAME = re.compile(r"\b([A-ZÆØÅ])-([a-zæøå]{3,})")


def other_numbered(passage: str, question: str) -> bool:
    """The question asks about a numbered (or lettered) thing the passage knows only by other
    numbers (letters): "Hvad omfatter Driftsmodel 3?" over a passage about "Driftsmodel 2" (and
    1), or "… en D-brandhane?" over one about A-, B- and C-brandhaner, is a near miss, however
    well the rest of the passage covers the question."""
    for word, number in _numbered_names(question):
        said = {m.group(1) for m in re.finditer(rf"\b{re.escape(word)}[ -](\d{{1,4}})\b", passage, re.IGNORECASE)}
        if said and number not in said:
            return True
    for letter, word in _LETTERED_NAME.findall(question):
        stem = re.escape(word[: max(3, len(word) - 2)])  # "brandhane" ~ "brandhanen", "brandhaner"
        said = {m.group(1) for m in re.finditer(rf"\b([A-ZÆØÅ])-{stem}", passage)}
        if said and letter not in said:
            return True
    return False


def split_sentences(text: str) -> list[str]:
    flat = flatten(text)
    return [flat[s.start : s.end].strip() for s in sentence_spans(flat) if flat[s.start : s.end].strip()]


def is_refusal(text: str) -> bool:
    return "fremgår ikke" in text.lower() or text.strip() == REFUSAL


def question_terms(question: str) -> list[str]:
    """The question's content terms, stemmed, without the words that only make it a question."""
    seen: list[str] = []
    for term in analyze(question):
        if term not in QUESTION_TERMS and term not in seen:
            seen.append(term)
    return seen


def _common_prefix(a: str, b: str) -> int:
    n = 0
    for x, y in zip(a, b):
        if x != y:
            break
        n += 1
    return n


def prefix_match(term: str, passage_terms: set[str] | frozenset[str]) -> bool:
    """Same word in another inflection the stemmer missed: startede/start, certificering/certific."""
    if term in passage_terms:
        return True
    if len(term) < 4:
        return False
    for other in passage_terms:
        shared = _common_prefix(term, other)
        if shared >= 4 and shared >= min(len(term), len(other)) - 2:
            return True
    return False


@lru_cache(maxsize=200_000)
def term_credit(term: str, passage_terms: frozenset[str]) -> float:
    """1 if the passage has the term, 0.8 if it has the parts of a Danish compound, else 0.

    Danish writes compounds as one word (byrådsmøde = byråd + møde, with a linking -s-),
    so a passage saying "Byrådet … mødet" does cover a question about "byrådsmødet".
    """
    if prefix_match(term, passage_terms):
        return 1.0
    for cut in range(3, len(term) - 2):
        head, tail = term[:cut], term[cut:]
        heads = [head] + ([head[:-1]] if head.endswith(("s", "e")) and len(head) > 4 else [])
        if any(h in passage_terms or prefix_match(h, passage_terms) for h in heads if len(h) >= 3):
            if prefix_match(tail, passage_terms) or (len(tail) >= 3 and any(p.startswith(tail) for p in passage_terms)):
                return 0.8
    return 0.0


def question_names(question: str) -> list[str]:
    """The names and codes a question is about ("D-brandhane", "LÆ125", "Hårup Skole")."""
    return [n for n in names_in(question) if n.lower() not in {"hvad", "hvem", "hvor", "hvilken", "hvilket", "hvilke", "hvornår"}]


def weighted_coverage(weights: dict[str, float], passage_terms: frozenset[str]) -> float:
    """The weighted share of the question's terms (term → weight) that a passage holds, 0..1."""
    total = sum(weights.values())
    if total <= 0:
        return 0.0
    return sum(w * term_credit(t, passage_terms) for t, w in weights.items()) / total


def names_in(sentence: str) -> list[str]:
    """Words in a sentence that name something: acronyms, codes, and capitalised words not first.

    The first word of a sentence is capitalised anyway, so it counts only if it is an
    acronym or code (two capitals, or a capital and a digit).
    """
    text = sentence.strip()
    names = []
    for match in _NAME.finditer(text):
        word = match.group(0).strip("-")
        first = not text[: match.start()].strip() or text[: match.start()].rstrip()[-1:] in ".:!?"
        acronym = sum(c.isupper() or c.isdigit() for c in word) >= 2
        if first and not acronym:
            continue
        names.append(word)
    return names


# The question's own question word: the first one in the sentence that asks (the last one
# ending in "?", else the last one). Context may come first ("Jeg ved ikke, hvem jeg skal
# ringe til. Hvornår …?"), a clause may hold another ("Hvilken artikel … stiller kravene
# til, hvornår en signatur er avanceret?" asks for an article, not a time), and a quoted
# title is a name, not a question ("I guiden 'Hvem gør hvad': hvornår …?").
_INTERROGATIVE = re.compile(r"\b(?:hvad|hvem|hvilke[nt]?|hvornår|hvor|hvordan|hvorfor|hvorledes|hvorhen|hvorfra)\b", re.IGNORECASE)
_QUOTED = re.compile(r"\"[^\"]*\"|“[^”]*”|”[^”]*”|„[^“”]*[“”]|«[^»]*»|'[^']*'|‘[^’]*’|’[^’]*’")
# After "hvad"/"hvilken" a cue may come a few words on ("hvad er taksten", "hvad skal man
# betale"), not a whole clause on ("Hvad sker der med bevillingen, hvis formuen er over
# beløbsgrænsen?"); after "hvordan"/"hvorfor"/"hvor" it never does ("Hvordan betaler jeg?").
_CUE_REACH = re.compile(r"\W*(?:\w+\W*){0,3}")
# "… at koste?" as the asking sentence's last word, with no clause before it ("Hvad gør jeg,
# hvis jeg ikke kan betale?" asks what to do, not an amount).
_FINAL_COST = re.compile(r"^[^,]*\b(?:koste|kostede|koster|kostet)\W*$", re.IGNORECASE)
_OPEN_QUESTION_WORD = re.compile(r"hvad|hvilke[nt]?", re.IGNORECASE)


def asking_sentence(question: str) -> str:
    """The sentence of the question that asks: the last one ending in "?", else the last one."""
    sentences = split_sentences(question) or [question]
    asking = [s for s in sentences if s.rstrip().endswith("?")]
    return (asking or sentences)[-1]


@lru_cache(maxsize=4096)
def _typing_cue(question: str) -> tuple[AnswerType, str]:
    """The kind of answer the question asks for, and the words that say so ("" for "any").

    Cached: extraction asks it of one question for every candidate sentence (fits_type)."""
    sentence = _QUOTED.sub(lambda m: " " * len(m.group(0)), asking_sentence(question))
    first = _INTERROGATIVE.search(sentence)
    if first is None:  # "Antal elever i 0. klasse?": a cue anywhere will do
        for kind, cue in _TYPE_CUES:
            found = cue.search(sentence)
            if found is not None:
                return kind, found.group(0)
        return "any", ""
    for kind, cue in _TYPE_CUES:  # "hvem …", "hvor mange …", "hvilken dato …"
        found = cue.match(sentence, first.start())
        if found is not None:  # with the few words after it: "hvor meget koster …"
            return kind, sentence[first.start() : found.end() + len(_CUE_REACH.match(sentence, found.end()).group(0))]
    if not _OPEN_QUESTION_WORD.fullmatch(first.group(0)):
        return "any", ""
    reach = first.end() + len(_CUE_REACH.match(sentence, first.end()).group(0))
    for kind, cue in _TYPE_CUES:  # "hvad koster …", "hvad er taksten …"
        found = cue.search(sentence, first.end())
        if found is not None and found.start() < reach:
            return kind, sentence[first.start() : found.end()]
    final = _FINAL_COST.search(sentence)  # "Hvad forventes broen mellem Dokk1 og Balticagade at koste?"
    if final is not None:
        return "quantity", final.group(0)
    return "any", ""


def answer_type(question: str) -> AnswerType:
    """What kind of answer the question asks for, from its Danish question word."""
    return _typing_cue(question)[0]


def asks_cost(question: str) -> bool:
    """Does the question ask what something costs? Only when the words that make it ask for an
    amount are about money ("Hvad koster …", "Hvad er taksten …", "… at koste?"), not when
    paying comes up elsewhere ("Hvor lang er ventetiden, før man skal betale?")."""
    kind, cue = _typing_cue(question)
    return kind == "quantity" and _COST_QUESTION.search(cue) is not None


# "Hvilken dato har beskrivelsen?", "Hvornår er oversigten senest opdateret?": the date of a
# document, which it gives as a labelled line of its own ("Date: 07.05.2018", "Ajourført: 29.
# august 2025") that shares few words with the question.
_DOCUMENT_DATE_ASKED = re.compile(
    r"\b(?:fra )?hvilken dato (?:har|er|bærer|står)\b|\b(?:opdateret|ajourført|revideret|udgivet|dateret)\b", re.IGNORECASE
)
_DOCUMENT_NOUN = re.compile(
    r"dokument|beskrivelse|vejledning|håndbog|specifikation|oversigt|notat|rapport|produktblad|udkast|udskrift"
    r"|referat|dagsorden|arkitektur|beretning", re.IGNORECASE
)
# … not a deadline or a plan ("Hvilken dato er fristen for høringssvar til udkastet?",
# "Hvornår skal jeg have opdateret min jobprofil?")
_NOT_DOCUMENT_DATE = re.compile(r"\b(?:frist\w*|skal|bliver|næste|min|mit|mine|vores)\b", re.IGNORECASE)
_LABELLED_DATE = re.compile(
    r"\b(?:dato|date|ajourført|opdateret|udgivet|dateret|revideret)\s*:?\s*(?:d\.\s*|den\s+)?" + _HEADER_DATE, re.IGNORECASE
)


def asks_document_date(question: str) -> bool:
    """Does the question ask for the date a document gives itself (not of an event it describes,
    a deadline in it, or a plan)?"""
    sentence = asking_sentence(question)
    return (
        answer_type(question) == "time" and _DOCUMENT_DATE_ASKED.search(sentence) is not None
        and _DOCUMENT_NOUN.search(sentence) is not None and _NOT_DOCUMENT_DATE.search(sentence) is None
    )


def labels_a_date(text: str) -> bool:
    """A date with its label, as a document dates itself: "Dato: 19-08-2025"."""
    return _LABELLED_DATE.search(text) is not None


def strip_page_labels(text: str) -> str:
    """Drop "Side 3 af 12"-style page labels, which a layout repeats on every page."""
    return _PAGE_LABEL.sub(" ", text)


# A table of contents: a run of dot leaders ("Indledning .................. 3"); prose's
# "Venter ....." is shorter.
_CONTENTS = re.compile(r"(?:\.\s?){8,}|…{3,}")


def is_furniture(text: str) -> bool:
    """Layout, not content: a page label with at most a few words around it (a header or
    footer), or a line of a table of contents, which points at the answer's page and is none."""
    if _CONTENTS.search(text):
        return True
    return bool(_PAGE_LABEL.search(text)) and len(strip_page_labels(text).split()) <= 6


def is_print_furniture(text: str) -> bool:
    """What a browser prints on every page of a web page: its title and cut-short address, or
    the page count and the time of printing. That time answers only a question about when the
    page was printed; it is asked for as a document's date."""
    return _PRINTED_ADDRESS.match(text) is not None or _PRINTED_FILE.match(text) is not None or (
        _PRINT_STAMP.search(text) is not None and len(_PRINT_STAMP.sub(" ", text).split()) <= 6
    )


# The title line of an item on a council's agenda ("Punkt 8: Afsluttede anlægsregnskaber for
# Teknik og Miljø 2024 EMN-2025-005495"): it names the case the question asks about, and says
# nothing of it. On the eval sets, 76 candidate sentences were such titles and none held the
# answer (two shared half its words by chance); extraction had quoted one for 7 questions. An
# attachment's title ("Bilag 1: Revisionsberetning nr. 3 fra den 13. juni 2025 …") can hold
# the asked-for date, so it stays a candidate. ("Pkt. 9. Titel" never reaches this: the
# sentence splitter ends a unit after "Pkt. 9.")
_AGENDA_TITLE = re.compile(r"(?:Punkt|Pkt\.)\s*\d+[a-z]?\s*:", re.IGNORECASE)
# A sentence ends at a full stop before a capital letter, or at the end ("nr. 3", "13. juni" go on).
_SENTENCE_END = re.compile(r"[.!?](?:\s+[A-ZÆØÅ]|\s*$)")
# A question about the agenda itself ("Under hvilket punkt …?", "Hvilket sagsnummer …?") is
# answered by a title.
_ASKS_AGENDA = re.compile(r"\b(?:punkt\w*|pkt|dagsorden\w*|sagsn(?:umm)?er\w*|sagsnr|emn)\b", re.IGNORECASE)


def is_agenda_heading(text: str, question: str = "") -> bool:
    """The title of an agenda item alone ("Punkt 4: Svar på forslag fra V om …"): a heading, no
    answer, unless the question asks about the agenda. A title run together with the sentence
    below it is not one: that sentence may answer."""
    text = text.strip()
    title = _AGENDA_TITLE.match(text)
    if title is None or _SENTENCE_END.search(text, title.end()) is not None:
        return False
    return not _ASKS_AGENDA.search(question)


# A sentence that opens by pointing back ("Det anvendte format er XMLDSig.", "De kaldes for
# "tokens".) finishes the one before it: quoted without it, an answer loses its subject, and a
# quote of the sentence before loses the answer.
# Not "Der" ("Der er parkering ved skolen." starts afresh) nor a date ("Den 1. marts …").
_POINTS_BACK = re.compile(
    r"(?:Det|De|Dette|Denne|Disse|Den(?!\s+\d)|Her|Derfor|Dermed|Hvilket|Heraf|Herunder|Desuden|Samtidig"
    r"|Endvidere|Også|Men|Og|Så|Dvs|Altså)\b"
)


def points_back(sentence: str) -> bool:
    """Does the sentence open with a word that refers to the one before it?"""
    return bool(_POINTS_BACK.match(sentence.lstrip()))


def _asked(term: str, asked: set[str]) -> bool:
    """The question holds the term, inflected or as the tail of a compound (mødet ~ byrådsmødet)."""
    return prefix_match(term, asked) or (len(term) >= 3 and any(q.endswith(term) for q in asked))


def new_terms(claim: str, question: str) -> list[str]:
    """Content terms and numbers of a claim that the question does not already hold.

    A sentence made only of the question's own words (a restatement: "… blev lavet af:")
    or of page furniture ("27. august 2025 Side 3 af 12" for a question about that
    meeting) tells the asker nothing.
    """
    body = strip_page_labels(claim).strip()
    if body.endswith(":"):
        return []  # an introduction: its answer is what follows, not this
    asked = set(analyze(question))
    asked_numbers = numbers_in(question)
    fresh = [
        t for t in dict.fromkeys(analyze(body))
        if not t.isdigit() and not _asked(t, asked) and t not in QUESTION_TERMS and t not in LIGHT_TERMS
    ]
    fresh += [n for n in sorted(numbers_in(body)) if n not in asked_numbers]
    return fresh


# Units that make a number an amount: "500 pladser", "25.000 kr.", "14 dage", "50 %".
_UNITS = frozenset(analyze(
    "kr kroner dkk euro eur procent pct timer time dage dag uger uge måneder måned år minutter sekunder "
    "km meter kvadratmeter hektar ha gb mb tb stk styk personer borgere ansatte elever børn pladser sager"
)) | {"%", "m", "m2", "m²", "km²", "km2"}
# "500 pladser", "4-dages uge"; not a list's enumerator ("1- Timesedler fra Daghøjskolen")
_QUANTITY = re.compile(r"(\d+(?:[.,:]\d+)*)(?:-(?=\w)|\s*)((?:%|[^\W\d_]+\.?)(?:\s+[^\W\d_]+){0,2})")


# Danish number words: "otte principper" answers "hvor mange" as well as "8 principper".
NUMBER_WORDS = frozenset(
    "to tre fire fem seks syv otte ni ti elleve tolv tretten fjorten femten seksten sytten atten nitten tyve "
    "tredive fyrre halvtreds tres halvfjerds firs halvfems hundrede tusind million millioner milliard milliarder "
    "dobbelt halvdelen halvt".split()
)
# What "hvor mange" counts: the two words after it ("hvor mange grundlæggende principper").
_COUNTED = re.compile(r"\bhvor mange\s+\w+(?:\s+\w+)?", re.IGNORECASE)


# What something costs is answered in money: "Hvad kostede Supercykelstien?" is not answered
# by "LP 854 … Supercykelsti", nor "Hvad er taksten for en LÆ125-attest?" by a list of codes.
_AMOUNT = r"(?<![\w.,])(\d[\d.,]*)(?:,-)?"
_MONEY = re.compile(
    _AMOUNT + r"\s*(?:kr\b|kroner|dkk\b|øre\b|t\.?\s?kr\b|eur\b|euro|€|\$|procent|%"
    r"|(?:mio|mia|mill)\.?\s*(?:kr\b|kroner|dkk\b|eur\b|euro)|millioner\s+(?:kr\b|kroner)|milliarder\s+(?:kr\b|kroner))"
    r"|(?:\bkr\.?|\bdkk|\beur|€|\$)\s*(\d[\d.,]*)",
    re.IGNORECASE,
)


def _new_amount(amounts: re.Pattern[str], body: str, question: str) -> bool:
    """Does the body hold an amount of this pattern (its first filled group) that the question
    does not state itself?"""
    asked = numbers_in(question)
    return any(
        next(g for g in m.groups() if g).replace(",", ".").rstrip(".-") not in asked for m in amounts.finditer(body)
    )


def _money(body: str, question: str) -> bool:
    """An amount of money (or a share of one: "50 procent rabat") the question does not state itself."""
    return _new_amount(_MONEY, body, question)


# An area is answered in units of area: "… ned til 64 meter" does not say how large an area a
# nature park is to cover. Only when the words that ask name it ("Hvor stort et areal …",
# "Hvor mange hektar …"), not a price per square metre ("Hvor stor er huslejen pr. m²?").
_AREA_ASKED = re.compile(r"\b(?:areal\w*|kvadratmeter\w*|kvadratkilometer\w*|hektar)\b|m²|km²|\b(?:km|m)2\b", re.IGNORECASE)
_AREA = re.compile(
    _AMOUNT + r"\s*(?:m²|km²|(?:km|m)2\b|kvm\b|kvadrat\w*|etagemeter\w*|hektar|ha\b|tdr\.?\s*land|tønder land)", re.IGNORECASE
)


def _area(body: str, question: str) -> bool | None:
    """Whether the body gives the area the question asks for (None: it asks for none)."""
    kind, cue = _typing_cue(question)
    if kind != "quantity" or not _AREA_ASKED.search(cue):
        return None
    return _new_amount(_AREA, body, question)


def _quantities(body: str, question: str) -> bool:
    """A number followed within three words by a unit or by what the question counts.

    "Hvor mange biler …" wants a number of cars: "en 40 km/t-zone" has a unit but counts
    something else, so for "hvor mange" only the counted noun (or "stk.") will do.
    """
    if asks_cost(question):
        return _money(body, question)
    counted = _COUNTED.search(question)
    if not counted:
        area = _area(body, question)
        if area is not None:
            return area
        # "Hvor meget/stor/lang …", "hvad koster …": any number the question does not hold
        # (an amount's unit varies too much to list: kr., kW, bits, liter/min …), but not a
        # bare year: "… budgetforlig 2024 …" says when, not how much.
        return any(not _YEAR.fullmatch(n) for n in numbers_in(body) - numbers_in(question))
    asked = set(analyze(counted.group(0))) - QUESTION_TERMS
    units: frozenset[str] = frozenset(analyze("stk styk procent")) | {"%"}
    words = re.findall(r"\w+", body.lower())
    for i, word in enumerate(words):
        # the counted noun after the number word, or a word of the question just before it
        # ("grundlæggende to metoder" answers "hvor mange grundlæggende måder")
        near = words[max(0, i - 2) : i] + words[i + 1 : i + 4]
        if word in NUMBER_WORDS and any(_asked(t, asked) for t in analyze(" ".join(near))):
            return True
    for match in _QUANTITY.finditer(body):
        if match.group(1).replace(",", ".").rstrip(".") in numbers_in(question):
            continue
        following = match.group(2).split()
        words = ["%" if w == "%" else w for w in following]
        terms = set(analyze(" ".join(w for w in words if w != "%"))) | ({"%"} if "%" in words else set())
        if terms & units or any(_asked(t, asked) for t in terms):
            return True
    return False


def _is_code(word: str) -> bool:
    """An acronym, code or literal value: two or more capitals or digits (PRODUCTION, XMLDSig, LÆ125)."""
    return sum(c.isupper() or c.isdigit() for c in word) >= 2


# Where to reach someone or something is answered by the address itself: "Hvilken webadresse
# …" by a web address, "Hvilket telefonnummer …" by a phone number, "… e-mailadresse" by one.
# Each pattern starts only where a run of its characters starts, so a long run costs one pass.
_DOTTED = re.compile(r"(?<![\w.@/-])(?:https?://)?[\w-]++(?:\.[\w-]++)++(?:/[^\s]*+)?", re.IGNORECASE)
_TOP_DOMAINS = frozenset("dk com org net eu io gov int info se no de fo gl uk nu app".split())
_EMAIL = re.compile(r"(?<![\w.+-])[\w.+-]++@[\w-]++(?:\.[\w-]++)++")
_PHONE = re.compile(
    r"(?<![\d.,-])(?:\+45[\s.-]?)?\d{2}(?:[\s.-]?\d{2}){3}(?!\d|[.,-]\d)|(?<![\d.,-])\d{4}[\s.-]\d{4}(?!\d|[.,-]\d)"
)


def _web_address(match: re.Match[str]) -> str | None:
    """The web address a dotted word is (trailing punctuation off), or None (a file name, "1.2.3")."""
    address = match.group(0).rstrip(".,;:)")
    host = re.sub(r"^https?://", "", address, flags=re.IGNORECASE).split("/", 1)[0]
    return address if host.rsplit(".", 1)[-1].lower() in _TOP_DOMAINS else None


def _web_addresses(text: str) -> list[str]:
    return [a for a in map(_web_address, _DOTTED.finditer(text)) if a is not None]


def _canonical_address(address: str) -> str:
    address = re.sub(r"^(?:https?://)?(?:www\.)?", "", address.lower())
    return address.rstrip("/.,;:)")


_CONTACTS = (
    (r"url'?(?:en|s)?|webadresse\w*|hjemmeside(?:n|s|ns)?|internetadresse\w*|links?|linket|web-?side(?:n|s|ns)?",
     _web_addresses),
    (r"e-?mail-?adresse\w*|mailadresse\w*", lambda text: _EMAIL.findall(text)),
    (r"telefonnummer\w*|telefonnumre\w*|telefonnr\.?|tlf\.?\s?-?(?:nummer\w*|nr\.?)", lambda text: _PHONE.findall(text)),
)
# The address noun is what the question asks for: right after the question word ("Hvilken
# URL …", "Hvilket telefonnummer …"), or after "hvad er" and at most one word ("Hvad er
# kommunens hjemmeside?") — not "Hvilken dato blev hjemmesiden lanceret?" or "Hvad skal
# hjemmesiden indeholde?".
_ADDRESS_ASKED = tuple(
    (re.compile(r"\b(?:hvilke[nt]?|hvad er(?: \w+)?)\s+(?:" + noun + r")(?!\w)", re.IGNORECASE), find)
    for noun, find in _CONTACTS
)


@lru_cache(maxsize=4096)
def _asked_address(question: str):
    """How to find the kind of address the question asks for in a text, and the addresses of
    that kind the question gives itself (canonical); None if it asks for none. Cached: fits_type
    asks it of one question for every candidate sentence."""
    sentence = asking_sentence(question)
    for asked, find in _ADDRESS_ASKED:
        if asked.search(sentence):
            return find, frozenset(_canonical_address(a) for a in find(question))
    return None


# "Hvor kan jeg …?", "Hvor finder man …?" ask for a place, which can be a web site; "hvor
# mange", "hvor stor", "hvor længe" … ask for an amount.
_WHERE = re.compile(
    r"\bhvor\b(?!\s+(?:mange|meget|stor\w*|lang\w*|længe|ofte|tit|gammel\w*|høj\w*|bred\w*|dyr\w*|tung\w*|dyb\w*|hurtig\w*))",
    re.IGNORECASE,
)


@lru_cache(maxsize=4096)
def _asks_address_or_place(question: str) -> bool:
    """Cached: extraction asks it of one question for every candidate sentence."""
    return _asked_address(question) is not None or _WHERE.search(asking_sentence(question)) is not None


def is_bare_link(text: str, question: str) -> bool:
    """A label and a link and nothing else ("Mere info på: https://…", a slide's footer), where
    the question asks for neither an address nor a place: it tells the asker nothing. A sentence
    that puts the link to use ("Du søger om boligstøtte på borger.dk.") is no bare link."""
    if _asks_address_or_place(question):
        return False

    def blank(match: re.Match[str]) -> str:
        address = _web_address(match)
        return match.group(0) if address is None else " " + match.group(0)[len(address):]  # punctuation stays

    blanked = _DOTTED.sub(blank, text)
    rest = re.sub(r"[\s.,;)]+$", "", blanked).strip()
    return blanked != text and (not rest or rest.endswith(":"))


# A year that is part of a plan's or an agreement's name ("budgetforlig 2024", "Den
# fællesoffentlige digitaliseringsstrategi 2016-2020", "klimaregnskabet 2024") says which
# one, not when anything happens: "Hvornår forventes broen at stå færdig?" is not answered
# by "Som en del af budgetforlig 2024 blev det vedtaget, at mulighederne … skulle undersøges".
_LABEL_YEAR = re.compile(
    r"\b(\w*(?:forlig|strategi|regnskab|budget|handleplan|aftale|reform|program)(?:en|et|ets|ens|tet|met|s)?)"
    r"\s+(?:19|20)\d\d(?:\s*[-–/]\s*(?:19|20)?\d\d)?\b",
    re.IGNORECASE,
)


_PORT_QUESTION = re.compile(r"\bhvilke[nt]?\s+port(?:e|en|ene)?\b", re.IGNORECASE)
# "Hvilken dag / dato …?" asks for one day; how often something happens ("månedlig
# redeployment", "dagligt") does not say which.
_ONE_DAY_QUESTION = re.compile(r"\bhvilken (?:dag|dato)\b", re.IGNORECASE)
_FREQUENCY = re.compile(r"\b(?:" + _FREQUENCY_WORDS + r")\b", re.IGNORECASE)
# A version the question names ("'FKG datamodellen - Version 2'") is not another one the
# sentence names ("FKG version 2.3.0 – juni 2013: Endelig udgivelse …").
_NAMED_VERSION = re.compile(r"\bversion\s+(\d+(?:\.\d+)*)\b", re.IGNORECASE)


def other_version(claim: str, question: str) -> bool:
    """The question names a version and the claim only other versions. A claim that holds the
    asked number anywhere ("Endelig udgivelse af tilrettet høringsversion 2.2.1") speaks of it:
    the question may ask what came after it."""
    def named(text: str) -> set[str]:
        return {re.sub(r"(?:\.0)+$", "", v) for v in _NAMED_VERSION.findall(text)}

    asked, said = named(question), named(claim)
    return bool(asked) and bool(said) and not asked & said and not asked & numbers_in(claim)


def fits_type(claim: str, kind: AnswerType, question: str = "") -> bool:
    """Does the claim carry the kind of thing asked for (an amount, a number, a time, a name)?"""
    body = strip_page_labels(claim)
    address = _asked_address(question)
    if address is not None:
        find, given = address
        return any(_canonical_address(a) not in given for a in find(body))
    numbers = numbers_in(body) - numbers_in(question)
    if kind == "quantity":
        return _quantities(body, question)
    if kind == "number":
        if _VERSION_QUESTION.search(question):
            # a version is numbered: "Docker, Kubernetes og KrakenD" is not one, nor "en TLS
            # sikret forbindelse, hvilket beskytter mod at 3.part kan lytte med", nor a section
            unnumbered = _DATE_LIKE.sub(" ", _without_inner_section_numbers(_SECTION_NUMBER.sub("", body, count=1)))
            versions = {n.replace(",", ".").rstrip(".") for n in _VERSION_NUMBER.findall(unnumbered)}
            # a lone digit is a list's or a step's number ("Konfigurer NCP Mappen 1."), unless
            # it is called a version ("version 5", "v2")
            versions = {v for v in versions if "." in v or len(v) > 1} | set(_CALLED_VERSION.findall(unnumbered))
            return bool(versions - numbers_in(question))
        if _PORT_QUESTION.search(question):
            return bool(numbers)  # a port is a number: "ApiKey" is no port
        # A code or a value: "80", "6100-6199", or a literal such as PRODUCTION or XMLDSig.
        asked = {w.lower() for w in names_in(question)}
        return bool(numbers) or any(_is_code(n) and n.lower() not in asked for n in names_in(body))
    if kind == "time":
        pattern = _CLOCK_TIME if _CLOCK_QUESTION.search(question) else _TIME_EXPRESSION
        if _typing_cue(question)[1].lower().startswith("hvornår"):  # "hvilken periode" may ask for "2016-2020"
            body = _LABEL_YEAR.sub(r"\1", body)
        if _ONE_DAY_QUESTION.search(question):  # "På hvilken dag i måneden …?" is not answered by "månedlig"
            body = _FREQUENCY.sub(" ", body)

        def said(text: str) -> set[str]:  # the words and numbers of its times: "den 12. okt." = "12. okt."
            return {w for m in pattern.finditer(text) for w in re.findall(r"\w+", m.group(0).lower())} - {"den", "kl", "klokken"}

        if said(body) - said(question):
            return True
        # "Hvornår kalder man et netværk dybt?" asks for a condition: "…, når der er mange lag"
        return pattern is _TIME_EXPRESSION and _typing_cue(question)[1].lower().startswith("hvornår") and bool(_WHEN_CLAUSE.search(body))
    if kind == "name":
        asked = {w.lower() for w in names_in(question)} | {w.lower() for w in question.split()}
        if any(n.lower() not in asked for n in names_in(body)):
            return True
        # a name in quotes may be lower case: "en undermappe der hedder ”behandlet”" (a quoted
        # sentence is a quote, not a name)
        quoted = [m.group(0).strip("\"“”„«»'‘’ ").lower() for m in _QUOTED.finditer(body)]
        if any(q and len(q.split()) <= 3 and q not in asked for q in quoted):
            return True
        if _CALLED_QUESTION.search(question):
            # What a thing is called is a name, not a role ("kunder"): a capitalised word the
            # question does not hold, first in the sentence too ("Sundhedsdatastyrelsen står
            # for …"), unless it is a common word ("Til at …"), or a web address ("borger.dk").
            first = re.match(r"\W*([A-ZÆØÅ][\w-]+)", body)
            if first and first.group(1).lower() not in asked and not _common_word(first.group(1)):
                return True
            return any(w.lower() not in asked for w in _WEB_NAME.findall(body))
        # Danish writes bodies and roles in lower case ("kommunalbestyrelsen", "sagsbehandleren"),
        # and capitalised only first in a sentence: a body or role the question does not name answers too.
        return any(m.group(0).lower() not in asked for m in _BODY_OR_ROLE.finditer(body))
    return True


# "Hvad står forkortelsen PTU for?", "Hvad menes der med 'besporing' …?", "Hvad er et
# sikringsrum …?": the question asks what a term means. The answer is where the documents
# define it ("PTU (Parat til uddannelse)", "ITIL står for …", "Et sikringsrum er et …"),
# which shares little with the question but the term itself.
_QUOTE_MARK = r"[\"'“”„«»‘’]"
_QUOTED_TERM = _QUOTE_MARK + r"[^\"'“”„«»‘’]{2,40}" + _QUOTE_MARK
_TERM_END = r"\s*(?:\?|$|,|\b(?:i|ifølge|blandt|under|hos|på|fra|som)\b)"
_ARTICLE = r"(?:(?:et|en|det|den)\s+)?"
_DEFINITION_ASKED = [
    re.compile(
        r"\bhvad\s+(?:står|dækker)\s+(?:\w*forkortelsen\s+|betegnelsen\s+|\w+en\s+)?(?P<term>.+?)\s+(?:for|over)\b",
        re.IGNORECASE,
    ),
    re.compile(r"\bhvad\s+menes\s+(?:der\s+)?med\s+" + _ARTICLE + r"(?P<term>.+?)" + _TERM_END, re.IGNORECASE),
    re.compile(r"\bhvad\s+betyder\s+(?:\w*forkortelsen\s+|\w+en\s+)?" + _ARTICLE + r"(?P<term>.+?)" + _TERM_END, re.IGNORECASE),
    re.compile(r"\bhvordan\s+defineres\s+" + _ARTICLE + r"(?P<term>.+?)" + _TERM_END, re.IGNORECASE),
    re.compile(
        r"\bhvordan\s+(?:definerer|forklarer|beskriver)\s+.{0,40}?\b(?:en|et|begrebet)\s+(?P<term>.+?)" + _TERM_END,
        re.IGNORECASE,
    ),
    re.compile(r"\bhvad\s+(?:forstås|forstår\s+.{0,40}?)\s+ved\s+" + _ARTICLE + r"(?P<term>.+?)" + _TERM_END, re.IGNORECASE),
    re.compile(r"\bhvad\s+er\s+(?:en|et)\s+(?P<term>.+?)" + _TERM_END, re.IGNORECASE),
    re.compile(r"\bhvilken\s+(?:slags|type)\s+\w+\s+er\s+(?:en|et)\s+(?P<term>.+?)" + _TERM_END, re.IGNORECASE),
    re.compile(r"\bbetegnelse\w*\s+for\s+(?P<term>" + _QUOTED_TERM + r")", re.IGNORECASE),
]
# a term is a quoted phrase, an acronym or code with two capitals ("PTU", "DCAT-AP-DK",
# "eIDAS"), or one word — never a clause ("det, når der står AP …") nor a bare number
# ("hastighedskoden 15", whose meaning is a code list's row)
_ACRONYM_TERM = re.compile(r"[\w-]*[A-ZÆØÅ][\w-]*[A-ZÆØÅ0-9][\w-]*")
_WORD_TERM = re.compile(r"[^\W\d_][\w-]{3,}")
_DEFINING_VERB = (
    r"(?:står\s+for|betyder|dækker|er\s+(?:en|et|betegnelse\w*|når|defineret)|defineres|refererer\s+til"
    r"|anvendes\s+til|bruges\s+til|omfatter|beskriver|beskrives|indebærer|forstås)\b"
)


@lru_cache(maxsize=1024)
def defined_term(question: str) -> str | None:
    """The term whose meaning the question asks for, or None when it asks for none.

    Cached: extraction asks it once per question, and tests ask it often."""
    sentence = asking_sentence(question)
    for asked in _DEFINITION_ASKED:
        found = asked.search(sentence)
        if found is None:
            continue
        term = found.group("term").strip()
        if re.fullmatch(_QUOTED_TERM, term):
            return term[1:-1].strip()
        if _ACRONYM_TERM.fullmatch(term) and not term.isdigit():
            return term
        if _WORD_TERM.fullmatch(term) and term.lower() not in {"kode", "koden", "dette", "denne"}:
            return term
    return None


@lru_cache(maxsize=4096)
def _defining_patterns(term: str) -> re.Pattern[str]:
    acronym = _ACRONYM_TERM.fullmatch(term) is not None
    # an acronym is spelled as it is; a word may be inflected ("faunaspærringer")
    spelled = re.escape(term) + ("" if acronym else r"\w*") + r"\b"
    quoted = _QUOTE_MARK + "?"
    return re.compile(
        "|".join((
            quoted + r"\b" + spelled + quoted + r"\s*\([^()]*\s[^()]*\)",  # PTU (Parat til uddannelse)
            r"\w\s*\(\s*" + quoted + r"\b" + spelled + quoted + r"\s*\)",  # Parat til Uddannelse (PTU)
            quoted + r"\b" + spelled + quoted + r"\s*(?i:" + _DEFINING_VERB + ")",  # ITIL står for …
            r"\b" + spelled + quoted + r"\s*:\s+\w",  # Faunaspærring: Menneskeskabt …
            r"\b" + spelled + quoted + r"\s*=\s*\w",  # LÆ125 = StatusAttest
            r"(?i:såkaldt\w*|kaldes(?:\s+for)?|kaldet)\s+" + quoted + spelled,  # … et såkaldt ”prompt”
        )),
        0 if acronym else re.IGNORECASE,
    )


def defines(text: str, term: str) -> bool:
    """Does the text define the term: spell it out, say what it stands for or is, or name it?"""
    return _defining_patterns(term).search(text) is not None


# "Hvilke værktøjer til lydgenerering nævner Dataetisk Råd som eksempler?", "Hvilke kendte
# værktøjer …?", "Hvilket eksempel på kunstig intelligens i biler …?": the question asks for
# examples, and the documents give them in a sentence that says so ("Nogle kendte eksempler er
# ElevenLab og 15.ai.", "… fx geodata, statistiske data", "e.g. 400, 401, 403"), which shares
# little with the question but its topic.
# Not "… når klienten i eksemplet sender …", which points at an example and asks about it.
_ASKS_EXAMPLES = re.compile(
    r"\b(?:som\s+eksemp\w*|eksemp\w*\s+på|hvilke[nt]?\s+(?:\w+\s+){0,2}eksemp\w*|kendte)\b", re.IGNORECASE
)
_GIVES_EXAMPLES = re.compile(
    r"\b(?:eksempler(?:ne)?\s+(?:er|på)|eksempel\s+(?:er|på)|eksempelvis|for\s+eksempel|f\.\s?eks|fx|bl\.\s?a"
    r"|såsom|e\.g|for\s+example|for\s+instance|such\s+as)\b",
    re.IGNORECASE,
)


def asks_examples(question: str) -> bool:
    """Does the question ask which examples the documents give?"""
    return _ASKS_EXAMPLES.search(asking_sentence(question)) is not None


def gives_examples(text: str) -> bool:
    """Does the text give examples ("Nogle kendte eksempler er …", "fx …", "e.g. …")?"""
    return _GIVES_EXAMPLES.search(text) is not None
