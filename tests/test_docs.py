"""The README and docs/ point only at files inside the repository, and those files exist."""

from __future__ import annotations

import re
import tokenize
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
LINK = re.compile(r"\]\(([^)\s]+)\)")


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_links_stay_inside_the_repository(page: Path) -> None:
    text = page.read_text()
    assert "shared/docs" not in text
    for target in LINK.findall(text):
        if target.startswith(("http://", "https://", "mailto:", "#")):
            continue
        path = (page.parent / target.split("#", 1)[0]).resolve()
        assert path.is_relative_to(ROOT), f"{page.name}: {target} points outside the repo"
        assert path.exists(), f"{page.name}: {target} does not exist"


def test_the_readme_links_the_design_domain_and_deploy_guides() -> None:
    readme = (ROOT / "README.md").read_text()
    for doc in ("docs/architecture.md", "docs/domain.md", "docs/deploy.md"):
        assert f"]({doc})" in readme


def anchor(heading: str) -> str:
    """The anchor GitHub gives a heading: lower case, punctuation dropped, spaces to dashes."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def test_the_readme_contents_list_every_section_and_nothing_else() -> None:
    readme = (ROOT / "README.md").read_text()
    prose = re.sub(r"^```.*?^```", "", readme, flags=re.MULTILINE | re.DOTALL)
    headings = re.findall(r"^#{2,3} (.+)$", prose, re.MULTILINE)
    assert len(set(map(anchor, headings))) == len(headings), "two headings share an anchor"
    contents = prose.split("## Contents\n", 1)[1].split("\n## ", 1)[0]
    listed = re.findall(r"\[([^\]]+)\]\(#([^)]+)\)", contents)
    expected = [h for h in headings if h not in ("Set-up: two commands", "Contents")]
    assert [title for title, _ in listed] == expected, "README's Contents is out of date"
    assert all(target == anchor(title) for title, target in listed)


def test_code_comments_cite_the_projects_own_docs() -> None:
    # Comments and docstrings point at README.md or docs/, never at a spec outside the repo.
    cited = re.compile(r"\bSPEC\b|shared/docs")
    for folder in ("bot", "tests", "migrations", "bench"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            with path.open("rb") as source:
                for token in tokenize.tokenize(source.readline):
                    prose = token.type == tokenize.COMMENT or (
                        token.type == tokenize.STRING and token.string.endswith('"""')
                    )
                    where = f"{path.relative_to(ROOT)}:{token.start[0]}"
                    assert not (prose and cited.search(token.string)), where
