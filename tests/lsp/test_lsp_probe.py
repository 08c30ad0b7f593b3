"""Probe on save: in the background, cancelled by the next save, verdicts shown
in the diagnostics. Most tests use a stand-in probe (lsp_rules.fake_probe) that
gives the verdict written on each finding's line; one runs the real probe."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest
from lsprotocol import types

from lsp_harness import alive, brief, start

pytestmark = pytest.mark.asyncio

FAKE = {"TORCHLINT_LSP_PROBE_RUNNER": "lsp_rules.fake_probe"}
TEXT = "import torch\nprint(1)\nprint(2)  # verdict: refuted\nbreakpoint()  # verdict: not_exercised\n"
PLAIN = [
    ("TL901", "Warning", (1, 0, 1, 8), "print() call; use logger.info"),
    ("TL901", "Warning", (2, 0, 2, 8), "print() call; use logger.info"),
    ("TL902", "Error", (3, 0, 3, 12), "breakpoint() call left in the code"),
]
CONFIRMED = ("TL901", "Warning", (1, 0, 1, 8),
             "print() call; use logger.info [probe confirmed: confirmed on line 2]")
REFUTED = ("TL901", "Hint", (2, 0, 2, 8),
           "print() call; use logger.info [probe refuted: refuted on line 3]")
NOT_EXERCISED = ("TL902", "Error", (3, 0, 3, 12),
                 "breakpoint() call left in the code [probe not exercised: not_exercised on line 4]")


async def test_verdicts_change_the_diagnostics(workspace: Path) -> None:
    settings = {"probeOnSave": True, "refuted": "hint"}
    async with start(workspace, settings=settings, env=FAKE) as editor:
        uri = await editor.open("train.py", TEXT)
        assert brief(await editor.published(uri, version=1)) == PLAIN
        mark = editor.mark()
        editor.save(uri)
        await editor.settles(uri, [CONFIRMED, REFUTED, NOT_EXERCISED], after=mark)
        hover = await editor.hover(uri, 1, 2)
        assert hover.split("\n\n")[:5] == [
            "**TL901 print() call; use logger.info**", "Use logger.info instead.",
            "Rule `print-call` (warning): A print call in training code.",
            "Fix (safe): Replace print with logger.info",
            "**Probe confirmed: confirmed on line 2**"]
        assert [m.message for m in editor.client.log_messages] == [
            "torchlint: probing train.py",
            "torchlint: probe of train.py: 1 confirmed, 1 not_exercised, 1 refuted"]

        mark = editor.mark()
        editor.configure({**settings, "select": ["TL001", "TL901", "TL902"], "debounce": 0,
                          "refuted": "hide"})
        await editor.settles(uri, [CONFIRMED, NOT_EXERCISED], after=mark)

        # Verdicts describe the saved text only: an edit makes them lapse.
        version = editor.edit(uri, (0, 0), (0, 0), "\n")
        shifted = [(code, severity, (line + 1, start, end_line + 1, end), message)
                   for code, severity, (line, start, end_line, end), message in PLAIN]
        assert brief(await editor.published(uri, version=version)) == shifted


def written(path: Path) -> bool:
    """The probe wrote its pid: the file exists and is not still empty."""
    try:
        return path.read_text().strip() != ""
    except FileNotFoundError:
        return False


async def test_the_next_save_cancels_a_running_probe_and_edits_go_on(workspace: Path) -> None:
    text = "import torch\n# probe-sleep: 120\nprint(1)\n"
    pid_file = workspace / "probe.pid"
    async with start(workspace, settings={"probeOnSave": True}, env=FAKE) as editor:
        uri = await editor.open("train.py", text)
        await editor.published(uri, version=1)
        editor.save(uri)
        await editor.until(lambda: written(pid_file))
        first = int(pid_file.read_text())

        # While the probe sleeps, edits are linted and published as usual.
        version = editor.edit(uri, (2, 0), (2, 0), "x = 1\n")
        assert brief(await editor.published(uri, version=version)) == [
            ("TL901", "Warning", (3, 0, 3, 8), "print() call; use logger.info")]

        pid_file.unlink()
        editor.save(uri)
        await editor.until(lambda: written(pid_file))
        second = int(pid_file.read_text())
        await editor.until(lambda: not alive(first))
        assert second != first and alive(second)
    assert not alive(second)  # shutting down ends the running probe too


async def test_a_missing_probe_is_reported_once(workspace: Path) -> None:
    env = {"TORCHLINT_LSP_PROBE_RUNNER": "lsp_rules.no_such_probe"}
    async with start(workspace, settings={"probeOnSave": True}, env=env) as editor:
        uri = await editor.open("train.py", "import torch\nprint(1)\n")
        await editor.published(uri, version=1)
        editor.save(uri)
        await editor.until(lambda: editor.client.messages)
        mark = editor.mark()
        editor.save(uri)
        await editor.published(uri, after=mark)
        await editor.until(lambda: len(editor.client.log_messages) == 2)  # both probes started
        assert [(m.type, m.message) for m in editor.client.messages] == [(
            types.MessageType.Warning,
            "torchlint: probe on save is unavailable (ModuleNotFoundError: No module named "
            "'lsp_rules.no_such_probe'); install the probe with pip install 'torchlint[probe]'")]
        # Linting goes on without it.
        assert brief(editor.client.diagnostics[uri]) == [
            ("TL901", "Warning", (1, 0, 1, 8), "print() call; use logger.info")]


SEED = '''import torch
import torch.nn as nn


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.drop = nn.Dropout(0.5)
        self.fc = nn.Linear(8, 3)

    def forward(self, x):
        return self.fc(self.drop(x))


def evaluate(model, loader):
    correct = 0
    with torch.no_grad():
        for x, y in loader:
            correct += (model(x).argmax(1) == y).sum().item()
    return correct


if __name__ == "__main__":
    model = Net()
    data = torch.utils.data.TensorDataset(torch.randn(32, 8), torch.randint(0, 3, (32,)))
    loader = torch.utils.data.DataLoader(data, batch_size=8)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    for x, y in loader:
        optimizer.zero_grad()
        nn.functional.cross_entropy(model(x), y).backward()
        optimizer.step()
    print(evaluate(model, loader))
'''


@pytest.mark.skipif(importlib.util.find_spec("torchlint.probe.launcher") is None,
                    reason="torchlint.probe.launcher (the runtime probe, issue 6) does not exist yet")
async def test_probe_on_save_with_the_real_probe(workspace: Path, torchlint) -> None:
    if torchlint("rule", "TL101").exit_code != 0:
        pytest.skip("rule TL101 missing-eval does not exist yet")
    (workspace / "train.py").write_text(SEED, encoding="utf-8")
    cli = torchlint("--probe", "--select", "TL101", "--format", "json", "train.py", cwd=workspace)
    findings = json.loads(cli.stdout)
    assert [f["code"] for f in findings] == ["TL101"], cli.stdout
    if findings[0]["probe"] is None:
        pytest.skip("rule TL101 has no probe experiment yet: the CLI's probe gives no verdict")
    assert findings[0]["probe"]["verdict"] == "confirmed"
    async with start(workspace, settings={"select": ["TL101"], "probeOnSave": True}) as editor:
        uri = await editor.open("train.py")
        (plain,) = await editor.published(uri, version=1)
        assert plain.message == findings[0]["message"]
        mark = editor.mark()
        editor.save(uri)
        summary = findings[0]["probe"]["evidence"]["summary"]
        await editor.settles(uri, [(
            "TL101", "Error", brief([plain])[0][2],
            f"{findings[0]['message']} [probe confirmed: {summary}]")], after=mark, timeout=240)


async def test_verdicts_arriving_after_an_edit_do_not_republish_the_older_version(
        workspace: Path) -> None:
    # The probe sleeps 1 s; meanwhile an edit comes, whose lint waits out a long debounce.
    text = "import torch\n# probe-sleep: 1\nprint(1)\n"
    settings = {"probeOnSave": True, "debounce": 120_000}
    async with start(workspace, settings=settings, env=FAKE) as editor:
        uri = await editor.open("train.py", text)
        await editor.published(uri, version=1)
        editor.save(uri)
        await editor.until((workspace / "probe.pid").exists)
        mark = editor.mark()
        version = editor.edit(uri, (0, 0), (0, 0), "\n")
        await editor.until(lambda: any(m.message.startswith("torchlint: probe of train.py:")
                                       for m in editor.client.log_messages))
        # Showing the verdicts now would publish version 1 after version 2 came.
        assert editor.publications(uri, after=mark) == []
        assert brief(await editor.pull(uri)) == [  # its verdicts lapsed with the edit
            ("TL901", "Warning", (3, 0, 3, 8), "print() call; use logger.info")]
        assert [p.version for p in editor.publications(uri, after=mark)] == [version]
