"""Cleaning on real text from ../shared/corpus and the seed document."""

from __future__ import annotations

import pypdf
import pytest
from conftest import SHARED, shared_pdf

from ragcli.cleaning import clean_text, drop_running_lines, flatten
from ragcli.loading import load_document


def raw_page(name: str, page: int) -> str:
    return pypdf.PdfReader(str(shared_pdf(name))).pages[page - 1].extract_text()


def test_ligatures_and_unicode_hyphen_breaks_from_digst_pdf():
    raw = raw_page("digst_referencearkitektur_brugerstyring_2019.pdf", 9)
    assert "\ufb00" in raw and "per\u2010\nsoner" in raw  # the real quirks are there
    text = clean_text(raw)
    assert "fællesoffentlige" in text
    assert "fysiske personer" in text
    assert "\ufb01" not in text and "\ufb00" not in text and "\u2003" not in text


def test_dropped_fi_ligature_is_repaired_in_sds_pdf():
    raw = raw_page("sds_ehdsi_driftshaandbog.pdf", 2)
    assert "Kon\x00gurer" in raw
    text = clean_text(raw)
    assert "Konfigurer NCP Mappen" in text
    assert "relevante filer" in text
    assert "\x00" not in text


def test_line_break_hyphenation_joined_in_dataetisk_pdf():
    raw = raw_page("dataetisk_raad_generativ_ai.pdf", 2)
    assert "op-\ngave" in raw
    text = clean_text(raw)
    assert "kompleks opgave" in text
    # "stick-\nfigure" is an English compound with a real hyphen in the source, but a
    # lower-case continuation cannot be told apart from a break; it is joined.
    assert "GenAI" in text


def test_running_headers_and_footers_leave_real_pdfs():
    # The eHDSI handbook's printout repeats "Driftshaandbog.md <date>" and "/" on every page;
    # Randers' process description a "14. september 2022 Side N af 17" footer. Once quoted as
    # an answer to "how often is a backup taken?".
    handbook = load_document(shared_pdf("sds_ehdsi_driftshaandbog.pdf"), "sds_ehdsi_driftshaandbog.pdf")
    assert handbook.title.startswith("Driftshaandbog.md")  # the title is read before the header goes
    # said once, where it first appears (a question may ask for the document's date), not on every page
    assert [page.page for page in handbook.pages if "Driftshaandbog.md 2025-06-02" in page.text] == [1]
    assert "Konfigurer NCP Mappen" in handbook.pages[1].text  # the content stays
    process = load_document(shared_pdf("randers_procesbeskrivelse_laegeregninger.pdf"), "p.pdf")
    assert not any("af 17" in page.text.splitlines()[-1] for page in process.pages[1:] if page.text)
    assert sum(len(page.text) for page in process.pages) > 10_000


def test_running_lines_are_only_page_edges_on_most_pages():
    pages = [f"Rapport 2024\nAfsnit {n}\nTekst om emne {n}.\nFjordby Kommune\nSide {n} af 5" for n in range(1, 6)]
    pages[2] = "Rapport 2024\nIndledning\nFjordby Kommune\nmidt i siden\nSlut\nSide 3 af 5"  # not at an edge: stays
    cleaned = drop_running_lines(pages)
    assert cleaned[0] == pages[0]  # where the running lines first appear, they stay
    # "Afsnit 2" … "Afsnit 5" count like the pages but are not printed as page numbers: headings
    assert cleaned[1] == "Afsnit 2\nTekst om emne 2."
    assert cleaned[2] == "Indledning\nFjordby Kommune\nmidt i siden\nSlut"
    # numbers do not make a line different: "Side 1 af 5" and "Side 4 af 5" are one footer
    assert not any("Side" in page or "Rapport" in page for page in cleaned[1:])
    # two pages are too few to tell a header from content, but not a page's own number (the
    # school page's "Side 1" had run into page 2's heading in every passage that spans both)
    assert drop_running_lines(pages[:2]) == [page.replace(f"\nSide {n} af 5", "") for n, page in enumerate(pages[:2], start=1)]
    assert drop_running_lines(["Tekst.\nSide 1", "Mere tekst.\n- 2 -", "x"][:2]) == ["Tekst.", "Mere tekst."]
    assert drop_running_lines(["Tekst.\nSide 3", "Punkt\n1"]) == ["Tekst.\nSide 3", "Punkt\n1"]  # not its own number
    # a heading or a list's number is content; a bare number only as the page's last line is a footer
    assert drop_running_lines(["§ 1\nLoven gælder for alle.\nSlut", "Kapitel\n2\nTekst"]) == ["§ 1\nLoven gælder for alle.\nSlut", "Kapitel\n2\nTekst"]
    assert drop_running_lines(["Tekst.\n1", "Mere.\n2 / 2"]) == ["Tekst.", "Mere."]
    # a one-line page is all content
    forms = [f"Side {n:03d} ok" for n in range(6)]
    assert drop_running_lines(forms) == forms
    # a page that is only header and footer is empty afterwards, not furniture
    assert drop_running_lines(pages[:4] + ["Rapport 2024\nSide 5 af 5"])[4] == ""


def test_numbers_that_change_but_do_not_count_pages_are_content():
    # a price list whose last line before the page number is a price: the prices stay
    prices = [f"Takster\nLÆ1{n}5\n{price}\n{n}" for n, price in enumerate((410, 650, 890, 760), start=1)]
    cleaned = drop_running_lines(prices)
    assert [page.splitlines()[-1] for page in cleaned] == ["1", "650", "890", "760"]  # page numbers go, once kept
    assert all(str(price) in page for page, price in zip(cleaned, (410, 650, 890, 760)))
    # a bare page number printed with a different offset ("- 12 -" on the first page) still counts
    offset = [f"- {n + 11} -\nIndhold {n}: om emnet.\nEmne {n * 7} beskrives her." for n in range(1, 5)]
    assert [page.splitlines()[0] for page in drop_running_lines(offset)] == [
        "- 12 -", "Indhold 2: om emnet.", "Indhold 3: om emnet.", "Indhold 4: om emnet."]
    # a hostile 200 KB line of digits at a page edge is content, and cheap to look at
    huge = ["1" * 200_000 + f"x\nTekst {n}." for n in range(1, 4)]
    assert drop_running_lines(huge) == huge


def test_seed_text_hyphenation():
    seed = (SHARED / "seeds" / "generativ-ai-dataetisk-raad.txt")
    if not seed.exists():
        pytest.skip("seed text missing")
    text = clean_text(seed.read_text(encoding="utf-8"))
    assert "tekstgeneration" in text
    assert "refererer til en gren af kunstig intelligens" in flatten(text)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("kunstig intel-\nligens", "kunstig intelligens"),
        ("en GenAI-model", "en GenAI-model"),
        ("en GenAI-\nModel", "en GenAI-\nModel"),
        ("udviklings-\nog driftsplatform", "udviklings-\nog driftsplatform"),
        ("perioden 2019-\n2020", "perioden 2019-\n2020"),
        ("blød bin\u00ad\ndestreg og ord\u00addeling", "blød bindestreg og orddeling"),
        ("e\u0301n café", "én café"),  # NFC: combining accent composed
        ("to  mellemrum\u00a0og\ttab", "to mellemrum og tab"),
        ("a\n\n\n\nb", "a\n\nb"),
    ],
)
def test_clean_text_rules(raw, expected):
    assert clean_text(raw) == expected
