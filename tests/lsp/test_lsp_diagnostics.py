"""Diagnostics pushed on open, change (incremental and full), save; pulled on
request; debounced; a crashing rule; the same findings as the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from lsprotocol import types
from pygls.protocol import default_converter

from lsp_harness import TEST_RULES, PLUGINS, brief, cli_brief, start

pytestmark = pytest.mark.asyncio

TRAIN = 'import torch\n\nlabel = "😋"; print(label)\ndef step(model):\n    breakpoint()\n    return model\n'
PRINT = ("TL901", "Warning", (2, 14, 2, 26), "print() call; use logger.info")
BREAKPOINT = ("TL902", "Error", (4, 4, 4, 16), "breakpoint() call left in the code")
SYNTAX = ("TL001", "Error", (3, 15, 3, 15), "The file does not parse: expected ':'")


async def test_open_publishes_every_field_and_matches_the_cli(workspace: Path, torchlint) -> None:
    (workspace / "train.py").write_text(TRAIN, encoding="utf-8")
    async with start(workspace) as editor:
        uri = await editor.open("train.py")
        diagnostics = await editor.published(uri, version=1)
    assert brief(diagnostics) == [PRINT, BREAKPOINT]
    first = diagnostics[0]
    assert first.source == "torchlint"
    assert first.code_description == types.CodeDescription(
        href="https://github.com/torchlint/torchlint/blob/main/docs/rules.md#tl901-print-call")
    # The emoji counts two UTF-16 units: `print` starts at code point 13, unit 14.
    assert first.data == {"name": "print-call", "body": "Use logger.info instead.", "probe": None, "version": 1, "fix": {
        "title": "Replace print with logger.info", "applicability": "safe",
        "edits": [{"range": {"start": {"line": 2, "character": 14},
                             "end": {"line": 2, "character": 19}}, "newText": "logger.info"}]}}
    assert diagnostics[1].data["fix"]["applicability"] == "unsafe"

    # `torchlint --format lsp` writes the same Diagnostics (the server adds the
    # document version its fix edits are for).
    cli = torchlint("--select", ",".join(TEST_RULES), "--format", "lsp", "train.py",
                    cwd=workspace, plugins="lsp_rules")
    assert cli.exit_code == 1, cli.stderr
    served = [default_converter().unstructure(d) for d in diagnostics]
    for diagnostic in served:
        assert diagnostic["data"].pop("version") == 1
    assert served == json.loads(cli.stdout)[uri]


async def test_incremental_edits_break_and_restore_the_syntax(workspace: Path, torchlint) -> None:
    async with start(workspace) as editor:
        uri = await editor.open("train.py", TRAIN)
        assert brief(await editor.published(uri, version=1)) == [PRINT, BREAKPOINT]

        version = editor.edit(uri, (3, 15), (3, 16), "")  # delete the colon of `def step(model):`
        broken = await editor.published(uri, version=version)
        # The header that does not parse is skipped and the rest still linted (as ruff
        # does while one types), but no fix is offered on text that does not parse.
        assert brief(broken) == [PRINT, SYNTAX, BREAKPOINT]
        assert [d.data["fix"] for d in broken] == [None, None, None]

        version = editor.edit(uri, (3, 15), (3, 15), ":")
        assert brief(await editor.published(uri, version=version)) == [PRINT, BREAKPOINT]

        # The server kept serving, and a broken file gets the CLI's own TL001.
        broken_text = TRAIN.replace("def step(model):", "def step(model)")
        cli = torchlint("--select", ",".join(TEST_RULES), "--format", "json",
                        "--stdin-filename", "train.py", "-", cwd=workspace, input=broken_text,
                        plugins="lsp_rules")
        assert cli_brief(json.loads(cli.stdout), broken_text) == brief(broken)


async def test_lines_end_where_lsp_says_not_where_python_splitlines_does(
        workspace: Path, torchlint) -> None:
    # A form feed (PEP 8 allows them), U+2028, U+0085 and U+001C end a line for
    # str.splitlines but not for LSP: edits below them must land where the editor meant.
    text = ("import torch\n\x0c\ndef step(model):\n    # a \u2028 b \x85 c \x1c d\n"
            "    return model\nx = 1\n")
    async with start(workspace) as editor:
        uri = await editor.open("train.py", text)
        assert brief(await editor.published(uri, version=1)) == []
        version = editor.edit(uri, (5, 0), (5, 5), "print(x)")
        version = editor.edit(uri, (4, 11), (4, 16), "breakpoint()")
        diagnostics = await editor.published(uri, version=version)
    assert brief(diagnostics) == [
        ("TL902", "Error", (4, 11, 4, 23), "breakpoint() call left in the code"),
        ("TL901", "Warning", (5, 0, 5, 8), "print() call; use logger.info"),
    ]
    edited = text.replace("return model", "return breakpoint()").replace("x = 1", "print(x)")
    assert editor.texts[uri] == edited
    cli = torchlint("--select", ",".join(TEST_RULES), "--format", "json", "--stdin-filename",
                    "train.py", "-", cwd=workspace, input=edited, plugins="lsp_rules")
    assert cli_brief(json.loads(cli.stdout), edited) == brief(diagnostics)


async def test_full_text_changes_and_save(workspace: Path) -> None:
    async with start(workspace) as editor:
        uri = await editor.open("train.py", TRAIN)
        await editor.published(uri, version=1)
        version = editor.replace_all(uri, TRAIN.replace('label = "😋"; print(label)\n', "\n"))
        moved = ("TL902", "Error", (4, 4, 4, 16), "breakpoint() call left in the code")
        assert brief(await editor.published(uri, version=version)) == [moved]

        mark = editor.mark()
        editor.save(uri)
        assert brief(await editor.published(uri, version=version, after=mark)) == [moved]


async def test_a_newer_edit_cancels_the_waiting_lint(workspace: Path) -> None:
    async with start(workspace, settings={"debounce": 400}) as editor:
        uri = await editor.open("train.py", TRAIN)  # opening is not debounced
        await editor.published(uri, version=1)
        mark = editor.mark()
        for _ in range(5):  # five keystrokes well within the debounce
            version = editor.edit(uri, (0, 0), (0, 0), "#")
        last = await editor.published(uri, version=version, after=mark)
        assert brief(last) == [PRINT, BREAKPOINT]
        assert [p.version for p in editor.publications(uri, after=mark)] == [6]


async def test_pull_diagnostics_equal_the_pushed_ones(workspace: Path) -> None:
    async with start(workspace) as editor:
        uri = await editor.open("train.py", TRAIN)
        pushed = await editor.published(uri, version=1)
        assert await editor.pull(uri) == pushed
        version = editor.edit(uri, (2, 0), (3, 0), "")  # drop the print line
        pulled = await editor.pull(uri)  # answered for the new text, even before the push
        assert brief(pulled) == [("TL902", "Error", (3, 4, 3, 16), "breakpoint() call left in the code")]
        assert await editor.published(uri, version=version) == pulled


async def test_a_crashing_rule_is_logged_and_the_rest_still_published(workspace: Path) -> None:
    crash_line = next(number for number, line in enumerate(
        (PLUGINS / "lsp_rules" / "crashing_rule.py").read_text().splitlines(), start=1)
        if "raise RuntimeError" in line)
    expected = (f"torchlint: train.py: rule TL903 (crashing-rule) crashed: RuntimeError: "
                f"boom from the test rule (at crashing_rule.py:{crash_line})")
    async with start(workspace, settings={"select": [*TEST_RULES, "TL903"]}) as editor:
        uri = await editor.open("train.py", TRAIN)
        assert brief(await editor.published(uri, version=1)) == [PRINT, BREAKPOINT]
        await editor.until(lambda: editor.client.log_messages)
        version = editor.edit(uri, (0, 0), (0, 0), "\n")
        assert len(await editor.published(uri, version=version)) == 2
        logged = [(m.type, m.message) for m in editor.client.log_messages]
        # Logged once for the document, not again on every edit while it still crashes.
        assert logged == [(types.MessageType.Error, expected)]
