"""The documentation (README.md and docs/) describes the API the server serves, and stays
inside the repository.

docs/api.md gives every operation a heading `### METHOD /api/v1/path` (path parameters as
`{id}`): those headings must be exactly the operations of the served OpenAPI schema. The
`curl` examples must name paths the server routes, and no link may leave the repository.
"""

import re
import unicodedata
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest
from django.urls import Resolver404, resolve

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
API_GUIDE = DOCS / "api.md"
HTTP_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS", "TRACE")

# Any heading that starts with an HTTP method is meant to document an operation...
METHOD_HEADING = re.compile(rf"^#{{1,6}}\s+`?({'|'.join(HTTP_METHODS)})\b", re.IGNORECASE)
# ...and must have exactly this form.
OPERATION_HEADING = re.compile(rf"^### ({'|'.join(HTTP_METHODS)}) (/\S*)$")
FENCE = re.compile(r"^\s*(```|~~~)")
# [text](target) and ![alt](target), reference definitions `[name]: target`, HTML href/src.
INLINE_LINK = re.compile(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
REFERENCE_LINK = re.compile(r"^\s{0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s.*)?$", re.MULTILINE)
HTML_LINK = re.compile(r"""(?:href|src)\s*=\s*["']([^"']+)["']""", re.IGNORECASE)
CURL_PATH = re.compile(r"\$\{?CONNEXT_URL\}?(/[^\s\"'?#)]*)")


def documents() -> list[Path]:
    return [ROOT / "README.md", *sorted(DOCS.rglob("*.md"))]


def relative(path: Path) -> str:
    return str(path.relative_to(ROOT))


def prose_lines(text: str):
    """(line number, line) outside fenced code blocks."""
    fenced = False
    for number, line in enumerate(text.splitlines(), start=1):
        if FENCE.match(line):
            fenced = not fenced
            continue
        if not fenced:
            yield number, line


def documented_operations() -> list[tuple[str, str]]:
    operations, malformed = [], []
    for number, line in prose_lines(API_GUIDE.read_text()):
        if not METHOD_HEADING.match(line):
            continue
        match = OPERATION_HEADING.match(line.rstrip())
        if match is None:
            malformed.append(f"docs/api.md:{number}: {line!r}")
        else:
            operations.append((match[1], match[2]))
    assert not malformed, "Operation headings must read exactly `### METHOD /api/v1/path`:\n" + "\n".join(malformed)
    return operations


@pytest.fixture
def schema_operations(anon) -> set[tuple[str, str]]:
    response = anon.get("/api/v1/openapi.json")
    assert response.status_code == 200
    return {
        (method.upper(), path)
        for path, item in response.json()["paths"].items()
        for method in item
        if method.upper() in HTTP_METHODS
    }


def test_the_api_guide_documents_exactly_the_operations_of_the_schema(schema_operations):
    documented = documented_operations()
    assert documented, "docs/api.md documents no operation: its headings lost their format?"
    duplicates = sorted({op for op in documented if documented.count(op) > 1})
    assert not duplicates, f"Documented more than once in docs/api.md: {duplicates}"
    not_served = sorted(set(documented) - schema_operations)
    undocumented = sorted(schema_operations - set(documented))
    assert not not_served, f"docs/api.md documents operations the schema does not have: {not_served}"
    assert not undocumented, f"Operations of /api/v1/openapi.json missing from docs/api.md: {undocumented}"


def test_every_curl_example_names_a_routed_path():
    unrouted = []
    for document in documents():
        for number, line in enumerate(document.read_text().splitlines(), start=1):
            for path in CURL_PATH.findall(line):
                try:
                    resolve(path)
                except Resolver404:
                    unrouted.append(f"{relative(document)}:{number}: {path}")
    assert not unrouted, "Example paths the server does not route:\n" + "\n".join(unrouted)


def slug(heading: str) -> str:
    """The anchor GitHub gives a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"<[^>]+>", "", heading).strip().lower()
    text = "".join(c for c in text if c in " -_" or unicodedata.category(c)[0] in "LN")
    return text.replace(" ", "-")


def anchors(document: Path) -> set[str]:
    seen: dict[str, int] = {}
    found = set()
    for _, line in prose_lines(document.read_text()):
        match = re.match(r"^#{1,6}\s+(.*?)\s*#*\s*$", line)
        if match is None:
            continue
        base = slug(match[1])
        count = seen.get(base, 0)
        seen[base] = count + 1
        found.add(base if count == 0 else f"{base}-{count}")
    return found


def link_targets(text: str) -> list[str]:
    prose = "\n".join(line for _, line in prose_lines(text))
    return [*INLINE_LINK.findall(prose), *REFERENCE_LINK.findall(prose), *HTML_LINK.findall(prose)]


def test_documentation_links_stay_inside_the_repository_and_resolve():
    problems = []
    for document in documents():
        for target in link_targets(document.read_text()):
            parts = urlsplit(target)
            if parts.scheme or parts.netloc:  # http(s)://, mailto: ...: not a file of ours
                continue
            if parts.path:
                if parts.path.startswith("/"):
                    problems.append(f"{relative(document)}: absolute path {target!r}")
                    continue
                linked = (document.parent / unquote(parts.path)).resolve()
                if not linked.is_relative_to(ROOT):
                    problems.append(f"{relative(document)}: {target!r} leaves the repository")
                    continue
                if not linked.exists():
                    problems.append(f"{relative(document)}: {target!r} does not exist")
                    continue
            else:
                linked = document
            if parts.fragment and linked.suffix == ".md" and parts.fragment not in anchors(linked):
                problems.append(f"{relative(document)}: {target!r} names no heading of {relative(linked)}")
    assert not problems, "\n".join(problems)


def test_documentation_does_not_refer_to_the_design_folder():
    mentions = []
    for document in documents():
        for number, line in enumerate(document.read_text().splitlines(), start=1):
            if re.search(r"shared/", line, re.IGNORECASE):
                mentions.append(f"{relative(document)}:{number}: {line.strip()}")
    assert not mentions, "Users get the repository only:\n" + "\n".join(mentions)
