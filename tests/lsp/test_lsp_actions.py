"""Code actions, each applied as an editor applies it and the result re-linted."""

from __future__ import annotations

from pathlib import Path

import pytest

from lsp_harness import TEST_RULES, brief, start

pytestmark = pytest.mark.asyncio

TRAIN = 'import torch\n\nlabel = "😋"; print(label)\ndef step(model):\n    breakpoint()\n    return model\n'
PRINT = ("TL901", "Warning", (2, 14, 2, 26), "print() call; use logger.info")
BREAKPOINT = ("TL902", "Error", (4, 4, 4, 16), "breakpoint() call left in the code")


async def test_a_safe_quick_fix(workspace: Path) -> None:
    async with start(workspace) as editor:
        uri = await editor.open("train.py", TRAIN)
        printed, _ = await editor.published(uri, version=1)
        offered = await editor.actions(uri, [printed])  # no `only`: every kind
        assert [(a.title, a.kind, a.is_preferred) for a in offered] == [
            ("Replace print with logger.info (TL901)", "quickfix", True),
            ("Disable TL901 for this line", "quickfix", None),
            ("Fix all safe torchlint findings (1)", "source.fixAll.torchlint", None),
        ]
        version = editor.apply(uri, offered[0].edit)
        assert editor.texts[uri] == TRAIN.replace("print(label)", "logger.info(label)")
        assert brief(await editor.published(uri, version=version)) == [BREAKPOINT]

        # Diagnostics of an older text carry edits for that text: no quick fix from them.
        stale = await editor.actions(uri, [printed], only=["quickfix"])
        assert [a.title for a in stale] == ["Disable TL901 for this line"]


async def test_an_unsafe_fix_only_when_the_settings_allow_it(workspace: Path) -> None:
    async with start(workspace) as editor:
        uri = await editor.open("train.py", TRAIN)
        _, stop = await editor.published(uri, version=1)
        assert [a.title for a in await editor.actions(uri, [stop], only=["quickfix"])] == [
            "Disable TL902 for this line"]

        mark = editor.mark()
        editor.configure({"torchlint": {"select": TEST_RULES, "debounce": 0, "unsafeFixes": True}})
        await editor.published(uri, after=mark)
        offered = await editor.actions(uri, [stop], only=["quickfix"])
        assert [(a.title, a.is_preferred) for a in offered] == [
            ("Remove breakpoint() (TL902, unsafe)", False), ("Disable TL902 for this line", None)]
        version = editor.apply(uri, offered[0].edit)
        assert editor.texts[uri] == TRAIN.replace("breakpoint()", "None")
        assert brief(await editor.published(uri, version=version)) == [PRINT]


async def test_disable_for_this_line_adds_or_extends_noqa(workspace: Path) -> None:
    text = TRAIN.replace("    breakpoint()", "    breakpoint()  # noqa: TL101")
    async with start(workspace) as editor:
        uri = await editor.open("train.py", text)
        printed, stop = await editor.published(uri, version=1)

        disable = (await editor.actions(uri, [printed]))[1]
        version = editor.apply(uri, disable.edit)
        assert editor.texts[uri].splitlines()[2] == 'label = "😋"; print(label)  # noqa: TL901'
        assert brief(await editor.published(uri, version=version)) == [BREAKPOINT]

        disable = (await editor.actions(uri, [stop], only=["quickfix"]))[0]
        assert disable.title == "Disable TL902 for this line"
        version = editor.apply(uri, disable.edit)
        assert editor.texts[uri].splitlines()[4] == "    breakpoint()  # noqa: TL101, TL902"
        assert brief(await editor.published(uri, version=version)) == []


async def test_no_disable_for_a_line_an_edit_removed(workspace: Path) -> None:
    text = "import torch\nprint(1)\nbreakpoint()"  # no line break at the end
    async with start(workspace) as editor:
        uri = await editor.open("train.py", text)
        _, stop = await editor.published(uri, version=1)
        version = editor.edit(uri, (1, 0), (2, 12), "x = 1")  # two lines become one
        await editor.published(uri, version=version)
        # The editor may still hold the old diagnostic on line 2, past the end now:
        # a noqa for it would land on `x = 1`.
        assert await editor.actions(uri, [stop], only=["quickfix"]) == []


async def test_fix_all_applies_every_safe_fix(workspace: Path) -> None:
    text = TRAIN + "print(step)\n"
    async with start(workspace) as editor:
        uri = await editor.open("train.py", text)
        diagnostics = await editor.published(uri, version=1)
        assert [d.code for d in diagnostics] == ["TL901", "TL902", "TL901"]

        quick = await editor.actions(uri, diagnostics, only=["quickfix"])
        assert [a.title for a in quick] == [
            "Replace print with logger.info (TL901)", "Replace print with logger.info (TL901)",
            "Disable TL901 for this line", "Disable TL902 for this line",
            "Disable TL901 for this line"]
        for only in (["source.fixAll"], ["source.fixAll.torchlint"], ["source"]):
            offered = await editor.actions(uri, [], only=only)
            assert [(a.title, a.kind) for a in offered] == [
                ("Fix all safe torchlint findings (2)", "source.fixAll.torchlint")]
        version = editor.apply(uri, offered[0].edit)
        assert editor.texts[uri] == text.replace("print(", "logger.info(")
        assert brief(await editor.published(uri, version=version)) == [BREAKPOINT]
        assert await editor.actions(uri, [], only=["source.fixAll"]) == []
