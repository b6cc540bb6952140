"""The documentation cannot drift from the code: its samples run and the site builds strictly.

Every fenced ``python`` (or ``py``, ``python3``) block in ``docs/**/*.md`` and
``README.md`` runs. The blocks of one page run in order, in one namespace, in
a fresh interpreter (``-W error``) whose working directory is an empty temp
directory and whose ``AUTH_STORE_URL`` names a new SQLite file there, so a
page reads like a session typed top to bottom and ``auth_store.connect()``
just works.

A block that cannot run here (it starts a server, say) opts out with the
``no-run`` marker on its fence line, in either form::

    ```python title="app.py" no-run
    ```python { .no-run title="app.py" }

Use it sparingly: a no-run block is still compiled, so at least its syntax is
checked. docs/hooks.py removes the bare word before Markdown renders the page.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.source_tree import source_copy

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
PYTHON_LANGUAGES = frozenset({"python", "py", "python3"})
PAGE_TIMEOUT = 180

_OPEN = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>`{3,}|~{3,})[ \t]*(?P<info>[^`\n]*?)[ \t]*$")
_NO_RUN = re.compile(r"(?:^|[\s{])\.?no-run(?=[\s}]|$)")
_BRACE_LANGUAGE = re.compile(r"\{\s*\.(?P<lang>[\w+-]+)")
_IMG_SRC = re.compile(r'<img\b[^>]*\bsrc="([^"]+)"')


@dataclass(frozen=True)
class Block:
    """One fenced code block: where it starts (1-based line of its first code line)."""

    path: Path
    line: int
    language: str
    info: str
    source: str

    @property
    def runs(self) -> bool:
        return self.language in PYTHON_LANGUAGES and not _NO_RUN.search(self.info)


def _language(info: str) -> str:
    if info.startswith("{"):
        match = _BRACE_LANGUAGE.match(info)
        return match["lang"].lower() if match else ""
    return info.split(maxsplit=1)[0].lower() if info else ""


def extract_blocks(text: str, path: Path) -> list[Block]:
    """Every fenced block of a Markdown text, indented ones (admonitions, tabs) included."""
    blocks: list[Block] = []
    lines = text.splitlines()
    index = 0
    while index < len(lines):
        match = _OPEN.match(lines[index])
        if match is None:
            index += 1
            continue
        indent, fence, info = match["indent"], match["fence"], match["info"]
        body: list[str] = []
        index += 1
        start = index + 1
        while index < len(lines):
            line = lines[index]
            stripped = line.strip()
            if stripped and set(stripped) == {fence[0]} and len(stripped) >= len(fence):
                break
            body.append(line[len(indent) :] if line.startswith(indent) else line.lstrip())
            index += 1
        index += 1
        blocks.append(Block(path, start, _language(info), info, "\n".join(body) + "\n"))
    return blocks


def _pages() -> list[Path]:
    pages = sorted(DOCS.rglob("*.md"))
    readme = ROOT / "README.md"
    return [*pages, readme] if readme.exists() else pages


def _python_blocks(page: Path) -> list[Block]:
    text = page.read_text(encoding="utf-8")
    return [b for b in extract_blocks(text, page) if b.language in PYTHON_LANGUAGES]


PAGES_WITH_SAMPLES = [page for page in _pages() if any(b.runs for b in _python_blocks(page))]

# Runs a page's blocks in one namespace; each block is compiled with the
# Markdown file as its file name and padded so tracebacks give the page's lines.
_RUNNER = """
import json, sys
namespace = {"__name__": "__main__"}
for block in json.load(open(sys.argv[1], encoding="utf-8")):
    code = compile("\\n" * (block["line"] - 1) + block["source"], block["path"], "exec")
    exec(code, namespace)
"""


def _relative(page: Path) -> str:
    return page.relative_to(ROOT).as_posix()


@pytest.mark.parametrize("page", PAGES_WITH_SAMPLES, ids=_relative)
def test_page_samples_run(page: Path, tmp_path: Path) -> None:
    blocks = [b for b in _python_blocks(page) if b.runs]
    work = tmp_path / "work"
    work.mkdir()
    spec = tmp_path / "blocks.json"
    spec.write_text(
        json.dumps([{"path": str(b.path), "line": b.line, "source": b.source} for b in blocks]),
        encoding="utf-8",
    )
    env = {**os.environ, "AUTH_STORE_URL": f"sqlite:///{tmp_path / 'docs.db'}"}
    result = subprocess.run(
        [sys.executable, "-W", "error", "-c", _RUNNER, str(spec)],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        timeout=PAGE_TIMEOUT,
        check=False,
    )
    assert result.returncode == 0, (
        f"a Python sample in {_relative(page)} failed:\n{result.stderr[-4000:]}"
    )


def test_no_run_samples_compile() -> None:
    skipped = [b for page in _pages() for b in _python_blocks(page) if not b.runs]
    for block in skipped:
        try:
            compile("\n" * (block.line - 1) + block.source, str(block.path), "exec")
        except SyntaxError as exc:
            pytest.fail(
                f"no-run sample {_relative(block.path)}:{exc.lineno} does not compile: {exc}"
            )


def test_extract_blocks_reads_markers_and_indentation() -> None:
    text = "\n".join(
        [
            "# Page",
            "```python",
            "x = 1",
            "```",
            '```python title="app.py" no-run',
            "serve()",
            "```",
            '``` { .python .no-run title="b.py" }',
            "serve()",
            "```",
            '!!! note "In an admonition"',
            "    ```py",
            "    if x:",
            "        y = 2",
            "    ```",
            "````markdown",
            "```python",
            "not a block of its own",
            "```",
            "````",
            "```bash",
            "make test",
            "```",
        ]
    )
    blocks = extract_blocks(text, Path("page.md"))
    assert [(b.language, b.line, b.runs) for b in blocks] == [
        ("python", 3, True),
        ("python", 6, False),
        ("python", 9, False),
        ("py", 13, True),
        ("markdown", 17, False),
        ("bash", 22, False),
    ]
    assert blocks[3].source == "if x:\n    y = 2\n"
    assert blocks[4].source == "```python\nnot a block of its own\n```\n"


def test_docs_pages_have_samples() -> None:
    # The quick start is the one page that must always carry runnable code.
    assert DOCS / "index.md" in PAGES_WITH_SAMPLES


def test_site_builds_strictly(tmp_path: Path) -> None:
    site = tmp_path / "site"
    result = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(site)],
        cwd=ROOT,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, f"mkdocs build --strict failed:\n{output[-4000:]}"
    assert "WARNING" not in output, output[-4000:]
    # A fence Markdown did not recognise (a bad info string) renders as a
    # paragraph starting with backticks instead of as code.
    broken = [
        page.relative_to(site).as_posix()
        for page in site.rglob("*.html")
        if "<p>```" in page.read_text(encoding="utf-8")
    ]
    assert not broken, f"pages with a fence that did not render as code: {broken}"
    # MkDocs checks links between pages but not images: check every local one.
    missing = [
        f"{page.relative_to(site).as_posix()}: {src}"
        for page in site.rglob("*.html")
        for src in _IMG_SRC.findall(page.read_text(encoding="utf-8"))
        if not src.startswith(("http:", "https:", "data:", "//"))
        and not (page.parent / src.split("#")[0].split("?")[0]).exists()
    ]
    assert not missing, f"images that are not in the site: {missing}"
    assert (site / "benchmarks" / "index.html").exists()


# -- commands a new user copies ------------------------------------------------------


def _shell_lines(page: Path, needle: str) -> list[str]:
    """The command lines of the shell blocks of ``page`` that mention ``needle``."""
    lines: list[str] = []
    for block in extract_blocks(page.read_text(encoding="utf-8"), page):
        if block.language in {"sh", "bash", "shell", "console"} and needle in block.source:
            lines += [
                line.split(" #", 1)[0].strip()
                for line in block.source.splitlines()
                if line.strip() and not line.lstrip().startswith("#")
            ]
    return lines


def _fresh_shell_env() -> dict[str, str]:
    """The environment of a new shell: no virtual environment on PATH."""
    own_bin = str(Path(sys.prefix) / "bin")
    path = [p for p in os.environ.get("PATH", "").split(os.pathsep) if p and p != own_bin]
    env = {k: v for k, v in os.environ.items() if k not in {"VIRTUAL_ENV", "PYTHONPATH"}}
    return {**env, "PATH": os.pathsep.join(path)}


def test_the_readme_conformance_command_runs_as_written(tmp_path: Path) -> None:
    [command] = [
        line for line in _shell_lines(ROOT / "README.md", "--pyargs") if "--pyargs" in line
    ]
    # A clone after `make venv`: its .venv/ here is the environment running these tests.
    clone = tmp_path / "clone"
    clone.mkdir()
    (clone / ".venv").symlink_to(sys.prefix)
    done = subprocess.run(
        ["bash", "-c", f"{command} -q -p no:cacheprovider"],
        cwd=clone,
        env=_fresh_shell_env(),
        capture_output=True,
        text=True,
        timeout=PAGE_TIMEOUT,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert re.search(r"\d{3} passed", done.stdout), done.stdout[-2000:]


def test_the_install_instructions_install_from_a_clone(tmp_path: Path) -> None:
    index = DOCS / "index.md"
    installs = [line for line in _shell_lines(index, "pip install") if "pip install" in line]
    for page in _pages():
        for line in _shell_lines(page, "pip install"):
            if "pip install" in line:
                target = line.split("pip install", 1)[1].strip().strip("'\"")
                # Not on a package index: a path or a git URL, never a bare name.
                assert target.startswith(("./", "/", "git+")) or " @ git+" in target, (
                    f"{page.name}: {line}"
                )
    # The first line, as written, from the folder holding the clone (a copy of this one).
    source_copy(tmp_path / "auth-store")
    first = installs[0]
    assert first.startswith("pip install ./auth-store")
    site = tmp_path / "site"
    done = subprocess.run(
        [sys.executable, "-m", *first.split(), "--quiet", "--no-deps", "--target", str(site)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=PAGE_TIMEOUT,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    probe = subprocess.run(
        [sys.executable, "-c", "import auth_store.adapters.sqlite as m; print(m.__file__)"],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(site)},
        capture_output=True,
        text=True,
        check=True,
    )
    assert probe.stdout.strip().startswith(str(site))
