"""The documentation stays navigable: a short README, links that resolve, code that points at docs.

Checked without a chain or any network: the README's length; every relative link of README.md
and docs/**/*.md resolves to an existing file or folder, and every ``#anchor`` to a heading
of the target (GitHub's slug rules); every ``docs/...md`` path named in a comment or string of
the code exists.
"""

from __future__ import annotations

import io
import re
import tokenize
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
README = REPO / "README.md"
DOCS = REPO / "docs"
MAX_README_LINES = 150
CODE_FOLDERS = ("client", "trainer", "storage", "migrations", "benchmarks")
#: One guide per reader, each linked from the README.
READER_DOCS = ("docs/operator.md", "docs/auditor.md", "docs/developer.md")

_FENCE = re.compile(r"^\s*(```|~~~)")
_INLINE_CODE = re.compile(r"(`+)(?:(?!\1).)+?\1")
_LINK = re.compile(r"!?\[(?:[^\[\]]|\[[^\]]*\])*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
_REF_DEF = re.compile(r"^\s{0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s+.*)?$")
_HEADING = re.compile(r"^\s{0,3}(#{1,6})\s+(.*?)\s*#*\s*$")
_DOCS_PATH = re.compile(r"docs/[\w./-]+?\.md(?:#[\w-]+)?")
_EXTERNAL = ("http://", "https://", "mailto:", "ftp://")


def slug(heading: str) -> str:
    """Return GitHub's anchor for a heading text (without the duplicate suffix).

    Markdown is rendered first (code spans, emphasis and links keep only their text), then
    the text is lower-cased, every character that is not a letter, digit, space, hyphen or
    underscore is dropped, and each space becomes a hyphen.
    """
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading)
    # Odd pieces are code spans: kept verbatim; emphasis markers go only outside them.
    pieces = re.split(r"`+", text)
    rendered = "".join(
        piece if i % 2 else re.sub(r"<[^>]+>", "", re.sub(r"(\*\*|__|\*)(.+?)\1", r"\2", piece))
        for i, piece in enumerate(pieces)
    )
    kept = "".join(ch for ch in rendered.lower() if ch.isalnum() or ch in " -_")
    return kept.replace(" ", "-")


def _prose_lines(text: str) -> Iterator[str]:
    """Yield the lines of a markdown text outside fenced code blocks."""
    fenced = False
    for line in text.splitlines():
        if _FENCE.match(line):
            fenced = not fenced
            continue
        if not fenced:
            yield line


def anchors(path: Path) -> set[str]:
    """Return every anchor GitHub generates for the headings of a markdown file."""
    seen: dict[str, int] = {}
    found: set[str] = set()
    for line in _prose_lines(path.read_text(encoding="utf-8")):
        match = _HEADING.match(line)
        if not match:
            continue
        base = slug(match.group(2))
        count = seen.get(base, 0)
        seen[base] = count + 1
        found.add(base if count == 0 else f"{base}-{count}")
    return found


def links(path: Path) -> list[str]:
    """Return the targets of every inline and reference link of a markdown file.

    Links inside fenced code blocks and inline code spans are not links.
    """
    targets: list[str] = []
    for line in _prose_lines(path.read_text(encoding="utf-8")):
        definition = _REF_DEF.match(line)
        if definition:
            targets.append(definition.group(1))
            continue
        targets.extend(_LINK.findall(_INLINE_CODE.sub("", line)))
    return targets


def markdown_files() -> list[Path]:
    """Return README.md and every markdown file under docs/."""
    return [README, *sorted(DOCS.rglob("*.md"))]


def broken(path: Path, target: str, root: Path = REPO) -> str | None:
    """Return why ``target`` (a link in ``path``) does not resolve under ``root``, or None."""
    if target.startswith(_EXTERNAL):
        return None
    file_part, _, anchor = target.partition("#")
    resolved = (path.parent / file_part).resolve() if file_part else path.resolve()
    if not resolved.is_relative_to(root):
        return f"{target}: points outside the repository"
    if not resolved.exists():
        return f"{target}: no such file {resolved.relative_to(root)}"
    if anchor:
        if resolved.suffix != ".md" or resolved.is_dir():
            return f"{target}: an anchor into a file that is not markdown"
        if anchor not in anchors(resolved):
            return f"{target}: no heading with anchor #{anchor} in {resolved.relative_to(root)}"
    return None


def code_texts(path: Path) -> Iterator[str]:
    """Yield the comments and string literals (docstrings included) of a Python file."""
    source = path.read_text(encoding="utf-8")
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type in (tokenize.COMMENT, tokenize.STRING):
            yield token.string


# ---------------------------------------------------------------------- the checker itself


@pytest.mark.parametrize(
    ("heading", "expected"),
    [
        ("Layout", "layout"),
        ("The `c_th` choice", "the-c_th-choice"),
        ("Why HPKE instead of RSA-2048", "why-hpke-instead-of-rsa-2048"),
        ("Step by step: what goes on-chain, what goes to the store",
         "step-by-step-what-goes-on-chain-what-goes-to-the-store"),
        ("`fppdl inspect`", "fppdl-inspect"),
        ("Registries: adding a rule", "registries-adding-a-rule"),
        ("What epsilon means here, and what the samples can leak",
         "what-epsilon-means-here-and-what-the-samples-can-leak"),
        ("The protocol (`client/protocol/`)", "the-protocol-clientprotocol"),
        ("**Bold** and [a link](x.md)", "bold-and-a-link"),
        ("A  B", "a--b"),
        ("`__init__` and __bold__", "__init__-and-bold"),
    ],
)
def test_slug_follows_github(heading: str, expected: str) -> None:
    assert slug(heading) == expected


def test_checker_finds_links_and_rejects_broken_ones(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text(
        "# Title\n\n## Title\n\nsee [a](page.md#title-1), [b](gone.md), `[c](in-code.md)`\n"
        "```\n[d](fenced.md)\n```\n[e]: page.md#nowhere\n",
        encoding="utf-8",
    )
    assert links(page) == ["page.md#title-1", "gone.md", "page.md#nowhere"]
    assert anchors(page) == {"title", "title-1"}
    assert broken(page, "page.md#title-1", tmp_path) is None
    assert broken(page, "https://example.org/x", tmp_path) is None
    assert broken(page, "gone.md", tmp_path) is not None
    assert broken(page, "page.md#nowhere", tmp_path) is not None
    assert broken(page, "../outside.md", tmp_path) is not None


# ---------------------------------------------------------------------- the documentation


def test_readme_is_short() -> None:
    lines = README.read_text(encoding="utf-8").splitlines()
    assert len(lines) <= MAX_README_LINES, (
        f"README.md has {len(lines)} lines (at most {MAX_README_LINES}): move detail to docs/"
    )


def test_readme_links_every_reader_guide() -> None:
    targets = {t.partition("#")[0] for t in links(README)}
    missing = [doc for doc in READER_DOCS if doc not in targets]
    assert not missing, f"README.md does not link {missing}"


@pytest.mark.parametrize("path", markdown_files(), ids=lambda p: str(p.relative_to(REPO)))
def test_every_relative_link_resolves(path: Path) -> None:
    problems = [why for t in links(path) if (why := broken(path, t)) is not None]
    assert not problems, f"{path.relative_to(REPO)}: " + "; ".join(problems)


def test_code_points_only_at_existing_docs() -> None:
    problems = []
    for folder in CODE_FOLDERS:
        for source in sorted((REPO / folder).rglob("*.py")):
            for text in code_texts(source):
                for reference in _DOCS_PATH.findall(text):
                    why = broken(REPO / "README.md", reference)
                    if why is not None:
                        problems.append(f"{source.relative_to(REPO)}: {why}")
    assert not problems, "; ".join(problems)
