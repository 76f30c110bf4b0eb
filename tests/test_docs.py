"""Documentation citations in the code lead somewhere: every ``docs/<name>.md`` a source file cites
exists, every section it quotes (``docs/platform.md, 'Other traps'``) is a heading there, and no
code cites the background notes that are not in the repository."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SOURCES = [p for d in ("ditree", "envs", "planners", "scripts", "tests") for p in (ROOT / d).rglob("*.py")]
CITATION = re.compile(r"docs/(\w+)\.md(?:[,:]?\s*'([^']+)')?")


def _headings(doc: Path) -> set[str]:
    return {" ".join(line.lstrip("#").split()) for line in doc.read_text().splitlines() if line.startswith("#")}


def test_cited_docs_and_sections_exist():
    cited = 0
    for src in SOURCES:
        text = src.read_text()
        for name, section in CITATION.findall(text):
            doc = ROOT / "docs" / f"{name}.md"
            assert doc.is_file(), f"{src.relative_to(ROOT)} cites missing docs/{name}.md"
            if section:
                title = " ".join(section.replace("#", " ").split())
                where = src.relative_to(ROOT)
                assert title in _headings(doc), f"{where} cites docs/{name}.md, '{title}': no such heading"
            cited += 1
    assert cited >= 20  # the code does cite the docs


def test_no_citations_of_notes_outside_the_repository():
    pattern = re.compile("PLATFORM" + r"\.md|SPEC" + " \u00a7|SPEC" + r"\.md")  # spelt not to match itself
    offenders = [str(p.relative_to(ROOT)) for p in SOURCES if p != Path(__file__) and pattern.search(p.read_text())]
    assert not offenders, offenders
