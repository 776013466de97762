"""The repository explains itself (docs/development.md §5.1): every document that code, tests and
docs cite is in the repository, every cited section and decision exists, every relative link in
the docs resolves, and the README links every page of docs/.

Files are read as text; nothing is imported. Citations look like `docs/execution.md §3.5`,
`docs/protocol.md §13-§16`, `docs/execution.md §1.4, §1.6-1.8` or `docs/architecture.md,
decision 6`; in docs/ itself, links are relative (`[execution.md §3](execution.md)`).
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
DOCS = REPO / "docs"
SEARCHED = ("toucan_nb", "server_ext", "tests", "bench", "scripts", "js/src", "notebooks", "docs")
SUFFIXES = {".py", ".md", ".toml", ".sh", ".ts", ".js", ".ipynb", ".cfg"}
SKIPPED_PARTS = {"node_modules", "__pycache__", ".venv", "static"}

# Names of the design notes the project started from, which live outside the repository.
OUTSIDE = re.compile(r"\b(?:DESIGN|STYLE|DEVELOPERS)\.md\b|\.\./shared/|shared/(?:seed|vectors)\b")
CITATION = re.compile(
    r"(?<![/\w])docs/(?P<doc>[a-z0-9-]+)\.md"
    r"(?:,? ?(?:§ ?(?P<sections>[0-9][0-9.]*(?:(?: ?[-–,] ?| and )§? ?[0-9][0-9.]*)*)"
    r"|decisions? (?P<decisions>[0-9]+(?:(?:, | and |-)[0-9]+)*)))?"
)
LINK = re.compile(r"\]\(([^)#\s]+)(?:#[^)]*)?\)")


def _text_files() -> list[Path]:
    files = [REPO / "README.md", REPO / "pyproject.toml"]
    for top in SEARCHED:
        for path in sorted((REPO / top).rglob("*")):
            if path.is_file() and path.suffix in SUFFIXES and not SKIPPED_PARTS & set(path.parts):
                files.append(path)
    return files


@cache
def _headings(doc: str) -> frozenset[str]:
    """Section numbers of docs/<doc>.md: "3" for `## 3. Title`, "3.5" for `### 3.5 Title`."""
    numbers = set()
    for line in (DOCS / f"{doc}.md").read_text().splitlines():
        match = re.match(r"#+ (?:Decision )?([0-9]+(?:\.[0-9]+)*)\.? ", line)
        if match:
            numbers.add(match.group(1))
    return frozenset(numbers)


def _numbers(group: str) -> list[str]:
    return [n.rstrip(".") for n in re.findall(r"[0-9][0-9.]*", group)]


FILES = _text_files()


def test_nothing_cites_a_document_outside_the_repository() -> None:
    this = Path(__file__)
    hits = [
        f"{path.relative_to(REPO)}:{n}: {line.strip()[:100]}"
        for path in FILES if path != this
        for n, line in enumerate(path.read_text(errors="replace").splitlines(), 1)
        if OUTSIDE.search(line)
    ]
    assert hits == []


def test_every_cited_document_section_and_decision_exists() -> None:
    missing = []
    for path in FILES:
        for match in CITATION.finditer(path.read_text(errors="replace")):
            doc = match.group("doc")
            where = f"{path.relative_to(REPO)}: {match.group(0)}"
            if not (DOCS / f"{doc}.md").is_file():
                missing.append(f"{where} (no such document)")
                continue
            for number in _numbers(match.group("sections") or ""):
                if number not in _headings(doc):
                    missing.append(f"{where} (no section {number})")
            for number in _numbers(match.group("decisions") or ""):
                if number not in _headings(doc):
                    missing.append(f"{where} (no decision {number})")
    assert missing == []


@pytest.mark.parametrize("page", [REPO / "README.md", *sorted(DOCS.glob("*.md"))], ids=lambda p: p.name)
def test_relative_links_resolve(page: Path) -> None:
    broken = [
        target for target in LINK.findall(page.read_text())
        if "://" not in target and not target.startswith("mailto:")
        and not (page.parent / target).exists()
    ]
    assert broken == []


def test_readme_links_every_page_of_docs() -> None:
    readme = (REPO / "README.md").read_text()
    unlinked = [p.name for p in sorted(DOCS.glob("*.md")) if f"docs/{p.name}" not in readme]
    assert unlinked == []
