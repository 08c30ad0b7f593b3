"""The server's collections stay out of the time from an edit to its
diagnostics (src/torchlint/lsp/heap.py): what it holds after the warm-up is
frozen, and a lint's garbage is collected after its diagnostics are out, only
when nothing else waits for the lint thread."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

import pytest

from lsp_harness import start
from torchlint.lsp import heap
from torchlint.lsp.session import Session

SCRIPT = "import torch\nprint(1)\n"


@pytest.mark.asyncio
async def test_a_lints_garbage_is_collected_after_its_diagnostics(workspace: Path) -> None:
    async with start(workspace) as editor:
        uri = await editor.open("train.py", SCRIPT)
        await asyncio.wait_for(editor.published(uri, version=1), 60)
        for _ in range(200):  # the collection runs on the lint thread, after the publication
            answer = await editor.client.protocol.send_request_async("torchlint/status", None)
            if answer.lints.collected:
                break
            await asyncio.sleep(0.05)
        assert answer.lints.collected == 1
        assert answer.frozenObjects > 0  # the imports and the warm-up's survivors


def test_the_collection_waits_for_no_lint(monkeypatch) -> None:
    collected = []
    monkeypatch.setattr(heap, "collect_lint_garbage", lambda: collected.append(True) or 0)
    session = Session(server=None)
    try:
        session._thread.submit(session._collect_job).result(10)  # the lint thread idles: collect
        assert collected == [True] and session.lints.collected == 1
        release = threading.Event()
        session._thread.submit(release.wait, 10)  # running
        collection = session._thread.submit(session._collect_job)
        later = session._thread.submit(lambda: None)  # waiting behind the collection: a lint
        release.set()
        collection.result(10)
        later.result(10)
        assert collected == [True]  # skipped: the next lint's collection takes this garbage too
    finally:
        session.close()
