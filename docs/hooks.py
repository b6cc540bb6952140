"""MkDocs hook: let a fence carry the ``no-run`` marker that tests/test_docs.py reads.

A sample that cannot run in the docs test (it needs a running server, say) is
written as ```` ```python title="app.py" no-run ````. Superfences does not
know the bare word ``no-run`` and would render the whole block as a
paragraph, so it is dropped from the fence line before Markdown sees it.
(The brace form ```` ```python { .no-run } ```` needs no help.)
"""

from __future__ import annotations

import re
from typing import Any

_NO_RUN = re.compile(r"^(?P<head>[ \t]*(?:`{3,}|~{3,})[^`\n]*?)[ \t]+no-run(?=[ \t]|$)", re.M)


def on_page_markdown(markdown: str, **kwargs: Any) -> str:
    """Drop the bare ``no-run`` word from fence opening lines."""
    return _NO_RUN.sub(r"\g<head>", markdown)
