"""Configuration: [tool.torchlint] per folder, re-read when it changes, a bad
one reported once; client settings at start and when they change."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from lsprotocol import types

from lsp_harness import brief, cli_brief, start

pytestmark = pytest.mark.asyncio

TRAIN = 'import torch\n\nlabel = "😋"; print(label)\ndef step(model):\n    breakpoint()\n    return model\n'
PRINT = ("TL901", "Warning", (2, 14, 2, 26), "print() call; use logger.info")
BREAKPOINT = ("TL902", "Error", (4, 4, 4, 16), "breakpoint() call left in the code")
FROM_CONFIG = {"select": None}  # no client select: [tool.torchlint] decides


def pyproject(folder: Path, body: str) -> None:
    (folder / "pyproject.toml").write_text(f"[tool.torchlint]\n{body}\n", encoding="utf-8")


async def test_each_folder_uses_its_own_config_and_it_is_reread(tmp_path: Path, torchlint) -> None:
    for name, select in (("a", "TL901"), ("b", "TL902")):
        (tmp_path / name).mkdir()
        pyproject(tmp_path / name, f'select = ["{select}"]')
        (tmp_path / name / "train.py").write_text(TRAIN, encoding="utf-8")
    async with start(tmp_path, settings=FROM_CONFIG) as editor:
        a = await editor.open("a/train.py")
        b = await editor.open("b/train.py")
        assert brief(await editor.published(a, version=1)) == [PRINT]
        assert brief(await editor.published(b, version=1)) == [BREAKPOINT]
        for name, uri in (("a", a), ("b", b)):  # the CLI reads the same configuration
            cli = torchlint("--format", "json", "train.py", cwd=tmp_path / name, plugins="lsp_rules")
            assert cli_brief(json.loads(cli.stdout), TRAIN) == brief(editor.client.diagnostics[uri])

        pyproject(tmp_path / "a", 'select = ["TL9"]\nignore = ["TL903", "TL904"]')
        mark = editor.mark()
        editor.files_changed(("a/pyproject.toml", types.FileChangeType.Changed))
        assert brief(await editor.published(a, after=mark)) == [PRINT, BREAKPOINT]
        assert brief(await editor.published(b, after=mark)) == [BREAKPOINT]


async def test_a_bad_config_is_reported_once_and_defaults_apply(workspace: Path) -> None:
    pyproject(workspace, 'selekt = ["TL901"]')
    (workspace / "sub").mkdir()
    async with start(workspace, settings=FROM_CONFIG) as editor:
        one = await editor.open("train.py", TRAIN)
        two = await editor.open("sub/other.py", TRAIN)
        # The defaults: every rule enabled by default (the test rules but TL903).
        assert brief(await editor.published(one, version=1)) == [PRINT, BREAKPOINT]
        assert brief(await editor.published(two, version=1)) == [PRINT, BREAKPOINT]
        assert [(m.type, m.message) for m in editor.client.messages] == [(
            types.MessageType.Error,
            f"torchlint: {workspace / 'pyproject.toml'}: [tool.torchlint] selekt: unknown key; "
            "allowed: exclude, extend-select, ignore, per-file-ignores, probe, select; "
            "linting with the default settings until it is fixed",
        )]

        pyproject(workspace, 'select = ["TL902"]')
        mark = editor.mark()
        editor.files_changed(("pyproject.toml", types.FileChangeType.Changed))
        assert brief(await editor.published(one, after=mark)) == [BREAKPOINT]
        assert brief(await editor.published(two, after=mark)) == [BREAKPOINT]
        assert len(editor.client.messages) == 1


async def test_client_settings_at_start_and_on_change(workspace: Path) -> None:
    pyproject(workspace, 'select = ["TL902"]')
    async with start(workspace, settings={"ignore": ["TL902"]}) as editor:
        uri = await editor.open("train.py", TRAIN)
        # The client's select (TL001, TL9xx) and ignore (TL902) win over the configuration.
        assert brief(await editor.published(uri, version=1)) == [PRINT]

        editor.configure({"pylsp": {"plugins": {}}})  # only another tool's section: no change
        assert brief(await editor.pull(uri)) == [PRINT]

        mark = editor.mark()
        editor.configure({"torchlint": {"select": None, "ignore": []}})  # the config's select again
        assert brief(await editor.published(uri, after=mark)) == [BREAKPOINT]

        mark = editor.mark()
        editor.configure({"select": ["TL999"], "unsafeFixes": "yes", "colour": 1,
                          "ignore": ["TL902"], "debounce": 0})
        assert brief(await editor.published(uri, after=mark)) == []
        await editor.until(lambda: len(editor.client.messages) == 3)
        assert sorted(m.message for m in editor.client.messages) == [
            "torchlint settings: select: 'TL999' matches no rule code or name (codes look like "
            "TL101; prefixes like TL1 select a group; see `torchlint rule --all`); using the default",
            "torchlint settings: unknown setting 'colour' ignored; known: select, ignore, "
            "extendSelect, unsafeFixes, probeOnSave, refuted, debounce",
            "torchlint settings: unsafeFixes: expected true or false, got 'yes'; using the default",
        ]
