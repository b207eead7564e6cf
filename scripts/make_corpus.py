"""Write the demo corpus: short Danish guides from the fictional Fjordby Kommune, as PDFs.

The texts are written for ragcli (no third-party content), so the demo can ship them.
Run `make corpus` to regenerate corpus/*.pdf after editing the texts below.
"""

from __future__ import annotations

import sys
from pathlib import Path

from fpdf import FPDF

# Each document: file name, title, pages (each page: list of (heading, paragraph) pairs).
DOCUMENTS: list[tuple[str, str, list[list[tuple[str, str]]]]] = [
    (
        "fjordby_skolestart.pdf",
        "Når dit barn starter i skole - Fjordby Kommune",
        [
            [
                ("Skolestart i Fjordby", "Alle børn i Fjordby Kommune starter i børnehaveklasse i det år, de fylder seks år. "
                 "Skoleåret 2026/27 begynder mandag den 10. august 2026. Første skoledag møder børnehaveklassen kl. 9.00 "
                 "sammen med forældrene, og dagen slutter kl. 12.00."),
                ("Skoledagens længde", "En almindelig skoledag starter kl. 8.00 for alle elever. I børnehaveklassen og "
                 "1.-3. klasse slutter skoledagen kl. 13.30. Elever i 4.-6. klasse har fri kl. 14.15, og elever i "
                 "7.-9. klasse har fri kl. 15.00. Fredag slutter alle klasser en time tidligere."),
                ("Indskrivning", "Du indskriver dit barn digitalt på fjordby.dk/skole mellem 1. december og 31. januar. "
                 "Dit barn bliver automatisk tilbudt en plads på distriktsskolen. Ønsker du en anden skole, skal du "
                 "søge om skoleskift, og du får svar senest fire uger efter, at vi har modtaget ansøgningen."),
            ],
            [
                ("SFO", "Skolefritidsordningen (SFO) har morgenåbning fra kl. 6.30 og lukker kl. 17.00 mandag til "
                 "torsdag og kl. 16.00 om fredagen. En plads i SFO koster 1.850 kr. om måneden i 11 måneder; juli er "
                 "betalingsfri. Søskende får 50 procent rabat på den billigste plads."),
                ("Skolebus", "Elever, der bor mere end 2,5 km fra skolen i børnehaveklassen til 3. klasse, har ret til "
                 "gratis skolebus. For 4.-6. klasse er grænsen 6 km, og for 7.-9. klasse 7 km."),
                ("Sygdom", "Er dit barn syg, skal du give besked til skolen via Aula inden kl. 8.00 samme dag."),
            ],
        ],
    ),
    (
        "fjordby_affaldssortering.pdf",
        "Sådan sorterer du dit affald - Fjordby Kommune",
        [
            [
                ("Ti fraktioner", "I Fjordby Kommune sorterer alle husstande affaldet i ti fraktioner: madaffald, "
                 "restaffald, papir, pap, glas, metal, plast, mad- og drikkekartoner, farligt affald og tekstiler."),
                ("Beholdere", "Hver husstand har to todelte beholdere. Den ene er til madaffald og restaffald og tømmes "
                 "hver 14. dag. Den anden er til papir og plast og tømmes hver fjerde uge. Glas og metal afleveres i "
                 "kuber ved indkøbscentrene."),
                ("Madaffald", "Madaffald skal i de grønne poser, som du kan hente gratis i alle dagligvarebutikker i "
                 "kommunen. Madaffaldet bliver til biogas og gødning på anlægget ved Fjordby Havn."),
            ],
            [
                ("Genbrugspladsen", "Genbrugspladsen på Industrivej 12 har åbent alle dage kl. 7.00-19.00. Farligt "
                 "affald som batterier, maling og kemikalier skal afleveres på genbrugspladsen eller i den røde boks."),
                ("Storskrald", "Du kan bestille afhentning af storskrald på fjordby.dk/affald. Storskrald hentes gratis "
                 "op til fire gange om året. Det skal stå ved skel senest kl. 6.00 på afhentningsdagen."),
            ],
        ],
    ),
    (
        "fjordby_barsel.pdf",
        "Barsel og orlov for forældre - vejledning fra Fjordby Kommune",
        [
            [
                ("Orlov efter fødslen", "Forældre har tilsammen ret til 52 ugers orlov efter fødslen. Moren har ret til "
                 "4 ugers graviditetsorlov før den forventede fødsel. Efter fødslen har hver forælder ret til 24 ugers "
                 "orlov, hvoraf 11 uger er øremærket og ikke kan overdrages til den anden forælder."),
                ("Barselsdagpenge", "Du søger barselsdagpenge digitalt hos Udbetaling Danmark. Ansøgningen skal være "
                 "modtaget senest 8 uger efter, at orloven er begyndt. Har du spørgsmål om din ret til dagpenge, kan "
                 "Jobcentret i Fjordby hjælpe."),
                ("Dagtilbud efter orloven", "Du skal skrive dit barn op til vuggestue senest tre måneder før, du ønsker "
                 "pladsen. Fjordby Kommune har pasningsgaranti fra barnet er 26 uger gammelt."),
            ],
        ],
    ),
    (
        "fjordby_bibliotek.pdf",
        "Fjordby Bibliotekerne - åbningstider og regler",
        [
            [
                ("Åbningstider", "Hovedbiblioteket på Torvet 3 har betjent åbent mandag til fredag kl. 10.00-18.00 og "
                 "lørdag kl. 10.00-14.00. Med bibliotekskort og pinkode kan du bruge det selvbetjente bibliotek alle dage "
                 "kl. 7.00-22.00. Filialerne i Nørreby og Strandby har selvbetjent åbent kl. 7.00-21.00."),
                ("Lån og aflevering", "Du kan låne op til 30 materialer ad gangen. Lånetiden er 30 dage for bøger og 14 "
                 "dage for film og spil. Du kan forny et lån to gange, hvis ingen har reserveret materialet."),
                ("Gebyrer", "Afleverer du for sent, koster det 20 kr. efter 1 dag, 100 kr. efter 8 dage og 200 kr. "
                 "efter 31 dage. Børn og unge under 18 år betaler ikke gebyrer."),
            ],
        ],
    ),
    (
        "saadan_virker_ragcli.pdf",
        "Sådan virker ragcli - søgning og svar med kildehenvisninger",
        [
            [
                ("Hvad er RAG?", "RAG står for retrieval-augmented generation, på dansk genfindingsforstærket "
                 "generering. En sprogmodel får ikke kun spørgsmålet, men også de tekststykker fra dine egne "
                 "dokumenter, som bedst svarer til spørgsmålet. Modellen skal svare ud fra de stykker og henvise til "
                 "dem, så du kan kontrollere svaret."),
                ("Indlæsning", "Når du kører ragcli ingest, læses hver PDF side for side. Teksten renses: orddelinger "
                 "ved linjeskift samles, ligaturer rettes, og teksten normaliseres. Derefter deles teksten i stykker "
                 "på nogle hundrede ord med et lille overlap, så en sætning ikke går tabt ved et skift."),
                ("Indeks", "Hvert stykke omsættes til en vektor af en embeddingmodel og gemmes i et FAISS-indeks. "
                 "Samtidig gemmes et leksikalsk BM25-indeks med danske ordstammer, så præcise ord og tal også findes."),
            ],
            [
                ("Spørgsmål", "Når du kører ragcli ask, finder ragcli de bedste stykker med både vektorsøgning og "
                 "BM25 og lægger resultaterne sammen. De bedste stykker nummereres og gives til en lokal sprogmodel "
                 "sammen med spørgsmålet. Intet sendes over internettet."),
                ("Kildehenvisninger", "Svaret vises med kilder: filnavn og side. ragcli kontrollerer selv hver sætning "
                 "i svaret mod den kilde, den henviser til, og markerer sætninger, som kilderne ikke understøtter. "
                 "Står svaret ikke i dokumenterne, skal svaret være: Det fremgår ikke af dokumenterne."),
            ],
        ],
    ),
]


class _GuidePDF(FPDF):
    def footer(self) -> None:
        self.set_y(-15)
        self.set_font("Helvetica", "I", 8)
        self.cell(0, 10, f"Side {self.page_no()}", align="C")


def write_pdf(path: Path, title: str, pages: list[list[tuple[str, str]]]) -> None:
    pdf = _GuidePDF(format="A4")
    pdf.set_title(title)
    pdf.set_author("Fjordby Kommune (fiktiv) / ragcli")
    pdf.set_creation_date(__import__("datetime").datetime(2026, 1, 1))  # reproducible bytes
    pdf.set_auto_page_break(auto=True, margin=20)
    for page_number, sections in enumerate(pages, start=1):
        pdf.add_page()
        if page_number == 1:
            pdf.set_font("Helvetica", "B", 16)
            pdf.multi_cell(0, 8, title, new_x="LMARGIN", new_y="NEXT")
            pdf.ln(4)
        for heading, paragraph in sections:
            pdf.set_font("Helvetica", "B", 12)
            pdf.multi_cell(0, 7, heading, new_x="LMARGIN", new_y="NEXT")
            pdf.set_font("Helvetica", "", 11)
            pdf.multi_cell(0, 6, paragraph, new_x="LMARGIN", new_y="NEXT")
            pdf.ln(3)
    pdf.output(str(path))


def main(out_dir: str) -> None:
    folder = Path(out_dir)
    folder.mkdir(parents=True, exist_ok=True)
    for name, title, pages in DOCUMENTS:
        write_pdf(folder / name, title, pages)
        print(f"wrote {folder / name} ({len(pages)} pages)")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "corpus")
