"""Hover shows the rule's docs as Markdown, on a diagnostic and on a code in
a ``# noqa`` comment; the docs are those `torchlint rule` prints."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lsp_harness import start

pytestmark = pytest.mark.asyncio

TEXT = 'import torch\nprint(1)\nx = 1  # noqa: TL902, TL9\n'
URL = "https://github.com/torchlint/torchlint/blob/main/docs/rules.md#"


def page(rule: dict) -> str:
    return (f"**{rule['code']} {rule['name']}** ({rule['severity']})\n\n{rule['summary']}\n\n"
            f"{rule['docs']}\n\n[{rule['code']} documentation]({URL}{rule['code'].lower()}-{rule['name']})")


def finding_page(rule: dict, title: str, body: str, fix: str | None = None) -> str:
    """A finding's hover: its title and body first (the diagnostic shows only the title)."""
    parts = [f"**{rule['code']} {title}**", body,
             f"Rule `{rule['name']}` ({rule['severity']}): {rule['summary']}"]
    if fix:
        parts.append(fix)
    parts += [rule["docs"], f"[{rule['code']} documentation]({URL}{rule['code'].lower()}-{rule['name']})"]
    return "\n\n".join(parts)


async def test_hover_on_a_diagnostic_and_on_noqa_codes(workspace: Path, torchlint) -> None:
    cli = torchlint("rule", "--all", "--format", "json", plugins="lsp_rules")
    rules = {rule["code"]: rule for rule in json.loads(cli.stdout)}
    async with start(workspace) as editor:
        uri = await editor.open("train.py", TEXT)
        [diagnostic] = await editor.published(uri, version=1)

        assert diagnostic.message == "print() call; use logger.info"  # the title alone
        shown = finding_page(rules["TL901"], "print() call; use logger.info",
                             "Use logger.info instead.", "Fix (safe): Replace print with logger.info")
        assert await editor.hover(uri, 1, 3) == shown  # inside print(1)
        assert await editor.hover(uri, 1, 8) == shown  # its end
        assert await editor.hover(uri, 2, 17) == page(rules["TL902"])  # on "TL902" in noqa
        assert await editor.hover(uri, 2, 22) == (  # on the prefix "TL9"
            "`TL9` silences 4 rules:\n\n"
            "- **TL901 print-call**: A print call in training code.\n"
            "- **TL902 breakpoint-call**: A breakpoint left in training code.\n"
            "- **TL903 crashing-rule**: Always raises.\n"
            "- **TL904 local-model**: Constructs a class defined in another file of the project."
        )
        assert await editor.hover(uri, 0, 3) is None  # `import torch`: nothing to explain
        assert await editor.hover(uri, 2, 9) is None  # on "noqa" itself


async def test_hover_after_an_edit_not_yet_linted_explains_no_stale_finding(workspace: Path) -> None:
    async with start(workspace, settings={"debounce": 120_000}) as editor:
        uri = await editor.open("train.py", "import torch\nprint(1)\n")
        await editor.published(uri, version=1)
        assert (await editor.hover(uri, 1, 3)).startswith("**TL901 print() call; use logger.info**")
        editor.edit(uri, (1, 0), (1, 0), "x = 2\n")  # print(1) moves down to line 2
        # The finding shown still says line 1, which now holds `x = 2`.
        assert await editor.hover(uri, 1, 3) is None
        await editor.pull(uri)  # lints the text it has now
        assert await editor.hover(uri, 1, 3) is None
        assert (await editor.hover(uri, 2, 3)).startswith("**TL901 print() call; use logger.info**")
