"""The code blocks of docs/editors.md, read verbatim by the editor tests, so the
snippets users copy are the snippets that were tested."""

from __future__ import annotations

from pathlib import Path

DOCS = Path(__file__).resolve().parents[2] / "docs" / "editors.md"


def docs_block(marker: str, language: str) -> str:
    """The first ```language block after the comment `marker` in docs/editors.md."""
    text = DOCS.read_text(encoding="utf-8")
    after = text[text.index(marker):]
    return after.split(f"```{language}\n", 1)[1].split("```", 1)[0]
