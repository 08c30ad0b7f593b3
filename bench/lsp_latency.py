"""LSP latency: from a didChange on a 1,000-line training script to its
publishDiagnostics, beside the same lint in-process and beside the floor
(libcst parse + one visit of the same text); then a storm of edits.

    python bench/lsp_latency.py [--edits 100] [--lines 1000] [--storm 2000] [--storm-debounce 200 0]
                                [--opens 5]

First, the editor's first impression: fresh servers with default settings,
the time from didOpen of the script to its first diagnostics (sent at once
after the initialize handshake, and 1 s later on a server already running),
and from a didChange to its diagnostics with the default debounce stated
apart from the work.

The server is the installed ``torchlint lsp``, started with a debounce of 0 so
that the figure is the work alone. Each edit changes one number in the
middle of the script (an incremental change, as an editor sends on a
keystroke) and waits for the diagnostics of that version before the next.
The rules are the default ones (whatever ``torchlint.rules`` holds).

The storm sends ``--storm`` edits to the same script without waiting for
anything (random insertions and deletions that break the syntax and are
undone, comment lines typed a character at a time, whole texts now and then:
the generator of tests/lsp/storm_edits.py, seed 9), once per debounce given.
It reports how long the client took to send them, how long a request sent
after the last edit waits for its answer (the server reading the edits
before it), the time from the last edit to the diagnostics of the final
version, how many lints the server ran
(``torchlint/status``), and the server's resident memory before, after, and
at its peak (VmHWM).

On a machine shared with other work, times on the wall clock measure the
neighbours as much as torchlint; so the floor, the in-process lint and the
server are also measured in CPU time (this process's for the first two; for
the server, the CPU its threads used from each didChange to the next, read
from /proc on Linux, the collections it makes between lints included), in
the same run, the floor's samples taken between the edits.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import libcst as cst
from lsprotocol import types
from pygls.lsp.client import LanguageClient

from torchlint.config import ConfigFinder
from torchlint.runner import Run, Selection
from torchlint.semantic.project import Project
from torchlint.source import SourceFile

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests" / "lsp"))
from storm_edits import Storm, position, replay  # noqa: E402 - the tests' storm

STORM_SEED = 9

HEADER = '''"""A training script, generated for the benchmark."""
import argparse
import math

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.utils.data import DataLoader, TensorDataset

LEARNING_RATE = 0.001
'''

BLOCK = '''

class Encoder{n}(nn.Module):
    """Encoder number {n}."""

    def __init__(self, vocab, dim=64, hidden=128, dropout=0.3):
        super().__init__()
        self.embedding = nn.Embedding(vocab, dim)
        self.rnn = nn.LSTM(dim, hidden, batch_first=True)
        self.norm = nn.BatchNorm1d(hidden)
        self.drop = nn.Dropout(dropout)
        self.head = nn.Linear(hidden, 10)

    def forward(self, tokens, lengths=None):
        x = self.embedding(tokens)
        out, _ = self.rnn(x)
        last = out[:, -1, :]
        last = self.norm(last)
        return self.head(self.drop(last))


def make_loader_{n}(size, batch_size=32, shuffle=True):
    inputs = torch.randint(0, 100, (size, 12))
    labels = torch.randint(0, 10, (size,))
    return DataLoader(TensorDataset(inputs, labels), batch_size=batch_size, shuffle=shuffle)


def train_epoch_{n}(model, loader, optimizer, epoch):
    model.train()
    total = 0.0
    for step, (tokens, labels) in enumerate(loader):
        optimizer.zero_grad()
        logits = model(tokens)
        loss = F.cross_entropy(logits, labels)
        loss.backward()
        optimizer.step()
        total += loss.item()
        if step % 50 == 0:
            print(f"epoch {{epoch}} step {{step}} loss {{loss.item():.4f}}")
    return total / max(len(loader), 1)


def evaluate_{n}(model, loader):
    model.eval()
    correct = 0
    seen = 0
    with torch.no_grad():
        for tokens, labels in loader:
            predictions = model(tokens).argmax(dim=1)
            correct += (predictions == labels).sum().item()
            seen += labels.numel()
    return correct / max(seen, 1)
'''

FOOTER = '''

def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--lr", type=float, default=LEARNING_RATE)
    args = parser.parse_args()
    model = Encoder0(vocab=100)
    optimizer = torch.optim.Adam(model.parameters(), lr=args.lr)
    train_loader = make_loader_0(1024)
    valid_loader = make_loader_0(256, shuffle=False)
    for epoch in range(args.epochs):
        loss = train_epoch_0(model, train_loader, optimizer, epoch)
        accuracy = evaluate_0(model, valid_loader)
        print(f"epoch {epoch}: loss {loss:.4f} accuracy {accuracy:.3f} lr {math.log10(args.lr):.1f}")


if __name__ == "__main__":
    main()
'''


def training_script(lines: int) -> str:
    parts = [HEADER]
    n = 0
    while sum(p.count("\n") for p in parts) + FOOTER.count("\n") < lines:
        parts.append(BLOCK.format(n=n))
        n += 1
    return "".join(parts) + FOOTER


def edited(text: str, index: int) -> tuple[str, int, str, str]:
    """The text with the number on the `LEARNING_RATE` line changed; returns
    (new text, 0-based line, old line, new line)."""
    lines = text.split("\n")
    line = next(i for i, value in enumerate(lines) if value.startswith("LEARNING_RATE"))
    new_line = f"LEARNING_RATE = 0.00{index + 1}"
    old_line = lines[line]
    lines[line] = new_line
    return "\n".join(lines), line, old_line, new_line


def summary(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return statistics.median(ordered) * 1000, p95 * 1000


def floor(text: str, runs: int) -> list[float]:
    return [floor_once(text)[0] for _ in range(runs)]


def floor_once(text: str) -> tuple[float, float]:
    """One parse and visit of `text`: (seconds on the wall clock, of CPU)."""
    start, cpu = time.perf_counter(), time.process_time()
    module = cst.parse_module(text)
    module.visit(cst.CSTVisitor())
    return time.perf_counter() - start, time.process_time() - cpu


def in_process(text: str, path: Path, edits: int) -> tuple[list[float], list[float], list[float]]:
    """Lints of the edited texts beside the floor: (wall seconds of each lint,
    CPU seconds of each lint, CPU seconds of a floor run before each)."""
    run = Run(configs=ConfigFinder(), selection=Selection(), project=Project())
    samples, cpu_samples, floor_cpu = [], [], []
    for index in range(edits):
        floor_cpu.append(floor_once(text)[1])
        new_text = edited(text, index)[0]
        start, cpu = time.perf_counter(), time.process_time()
        run.lint(SourceFile(display=path.name, text=new_text, path=path))
        samples.append(time.perf_counter() - start)
        cpu_samples.append(time.process_time() - cpu)
    return samples, cpu_samples, floor_cpu


def server_cpu(pid: int) -> float | None:
    """CPU seconds the threads of process `pid` have used so far (Linux), or None."""
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return None
    total = 0
    for task in tasks:
        try:
            with open(f"/proc/{pid}/task/{task}/schedstat", encoding="ascii") as stat:
                total += int(stat.read().split()[0])  # nanoseconds on a CPU
        except (OSError, ValueError, IndexError):
            continue  # a thread that ended meanwhile
    return total / 1e9


def lint_times(text: str, path: Path, runs: int) -> list[float]:
    run = Run(configs=ConfigFinder(), selection=Selection(), project=Project())
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        run.lint(SourceFile(display=path.name, text=text, path=path))
        samples.append(time.perf_counter() - start)
    return samples


async def through_server(text: str, path: Path, edits: int
                         ) -> tuple[list[float], int, list[float], list[float]]:
    """(wall seconds from each didChange to its diagnostics, findings, server CPU
    seconds from each didChange to the next, this process's CPU seconds for a
    floor run made before each edit)."""
    executable = str(Path(sys.executable).parent / "torchlint")
    client = LanguageClient("lsp-latency-bench", "1")
    waiting: dict[int, asyncio.Future] = {}
    counts: list[int] = []

    @client.feature(types.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS)
    def published(params: types.PublishDiagnosticsParams) -> None:
        future = waiting.get(params.version or 0)
        if future is not None and not future.done():
            counts.append(len(params.diagnostics))
            future.set_result(time.perf_counter())

    await client.start_io(executable, "lsp", cwd=str(path.parent))
    await client.initialize_async(types.InitializeParams(
        capabilities=types.ClientCapabilities(), root_uri=path.parent.as_uri(),
        initialization_options={"debounce": 0}))
    client.initialized(types.InitializedParams())
    uri = path.as_uri()
    loop = asyncio.get_running_loop()
    waiting[1] = loop.create_future()
    client.text_document_did_open(types.DidOpenTextDocumentParams(
        types.TextDocumentItem(uri=uri, language_id="python", version=1, text=text)))
    await asyncio.wait_for(waiting[1], 60)
    pid = (await client.protocol.send_request_async("torchlint/status", None)).pid
    samples: list[float] = []
    cpu_samples: list[float] = []
    floor_cpu: list[float] = []
    previous = server_cpu(pid)
    current = text
    for index in range(edits):
        version = index + 2
        new_text, line, old_line, new_line = edited(text, index)
        current_line = current.split("\n")[line]
        waiting[version] = loop.create_future()
        floor_cpu.append(floor_once(text)[1])  # while the server idles between edits
        now = server_cpu(pid)
        if previous is not None and now is not None and index > 0:
            cpu_samples.append(now - previous)  # the previous edit, to this one
        previous = now
        start = time.perf_counter()
        client.text_document_did_change(types.DidChangeTextDocumentParams(
            text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=version),
            content_changes=[types.TextDocumentContentChangePartial(
                range=types.Range(types.Position(line, 0), types.Position(line, len(current_line))),
                text=new_line)]))
        end = await asyncio.wait_for(waiting[version], 60)
        samples.append(end - start)
        current = new_text
    await asyncio.sleep(0.5)  # the last edit's work, collection included, is done
    now = server_cpu(pid)
    if previous is not None and now is not None:
        cpu_samples.append(now - previous)
    await client.shutdown_async(None)
    client.exit(None)
    await client.stop()
    return samples, counts[-1] if counts else 0, cpu_samples, floor_cpu


async def first_diagnostics(text: str, path: Path, after_start: float) -> tuple[float, float, float]:
    """A fresh server with its default settings: (seconds from launching the
    process to the end of the initialize handshake, seconds from didOpen to the
    first publishDiagnostics, seconds from a didChange to its diagnostics).
    didOpen is sent `after_start` seconds after the handshake (0: at once, as an
    editor does when it opens a file with the server; more: a server already
    running when a file is opened)."""
    client = LanguageClient("lsp-latency-bench", "1")
    loop = asyncio.get_running_loop()
    waiting: dict[int, asyncio.Future] = {1: loop.create_future(), 2: loop.create_future()}

    @client.feature(types.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS)
    def published(params: types.PublishDiagnosticsParams) -> None:
        future = waiting.get(params.version or 0)
        if future is not None and not future.done():
            future.set_result(time.perf_counter())

    launched = time.perf_counter()
    await client.start_io(str(Path(sys.executable).parent / "torchlint"), "lsp", cwd=str(path.parent))
    await client.initialize_async(types.InitializeParams(
        capabilities=types.ClientCapabilities(), root_uri=path.parent.as_uri()))
    client.initialized(types.InitializedParams())
    started = time.perf_counter()
    await asyncio.sleep(after_start)
    uri = path.as_uri()
    opened = time.perf_counter()
    client.text_document_did_open(types.DidOpenTextDocumentParams(
        types.TextDocumentItem(uri=uri, language_id="python", version=1, text=text)))
    first = await asyncio.wait_for(waiting[1], 60)
    new_text, line, old_line, new_line = edited(text, 0)
    changed = time.perf_counter()
    client.text_document_did_change(types.DidChangeTextDocumentParams(
        text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=2),
        content_changes=[types.TextDocumentContentChangePartial(
            range=types.Range(types.Position(line, 0), types.Position(line, len(old_line))),
            text=new_line)]))
    second = await asyncio.wait_for(waiting[2], 60)
    await stop_server(client)
    return started - launched, first - opened, second - changed


def default_debounce_ms() -> float:
    from torchlint.lsp.settings import DEFAULT_DEBOUNCE_MS

    return float(DEFAULT_DEBOUNCE_MS)


async def start_server(client: LanguageClient, folder: Path, debounce: float) -> None:
    await client.start_io(str(Path(sys.executable).parent / "torchlint"), "lsp", cwd=str(folder))
    await client.initialize_async(types.InitializeParams(
        capabilities=types.ClientCapabilities(), root_uri=folder.as_uri(),
        initialization_options={"debounce": debounce}))
    client.initialized(types.InitializedParams())


async def stop_server(client: LanguageClient) -> None:
    await client.shutdown_async(None)
    client.exit(None)
    await client.stop()


def memory_kib(pid: int) -> dict[str, int]:
    """VmRSS (now) and VmHWM (peak) of process `pid`, in KiB."""
    found = {}
    with open(f"/proc/{pid}/status", encoding="ascii") as status:
        for line in status:
            key = line.split(":")[0]
            if key in ("VmRSS", "VmHWM"):
                found[key] = int(line.split()[1])
    return found


async def storm(text: str, path: Path, edits: int, debounce: float) -> dict[str, float]:
    changes = list(Storm(text, STORM_SEED, keep=0, count=edits).changes())
    final_version = edits + 1
    client = LanguageClient("lsp-latency-bench", "1")
    loop = asyncio.get_running_loop()
    final: asyncio.Future = loop.create_future()
    published: list[int] = []

    @client.feature(types.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS)
    def on_publish(params: types.PublishDiagnosticsParams) -> None:
        published.append(params.version or 0)
        if params.version == final_version and not final.done():
            final.set_result((time.perf_counter(), len(params.diagnostics)))

    async def status() -> dict:
        answer = await client.protocol.send_request_async("torchlint/status", None)
        return {"pid": answer.pid, "run": answer.lints.run, "shown": answer.lints.shown}

    await start_server(client, path.parent, debounce)
    uri = path.as_uri()
    client.text_document_did_open(types.DidOpenTextDocumentParams(
        types.TextDocumentItem(uri=uri, language_id="python", version=1, text=text)))
    while not published:
        await asyncio.sleep(0.01)
    before = await status()
    pid = before["pid"]
    rss_before = memory_kib(pid)["VmRSS"]
    current = text
    start = time.perf_counter()
    for version, change in enumerate(changes, start=2):
        if change.full:
            event: types.TextDocumentContentChangeEvent = \
                types.TextDocumentContentChangeWholeDocument(text=change.text)
        else:
            event = types.TextDocumentContentChangePartial(
                range=types.Range(types.Position(*position(current, change.start)),
                                  types.Position(*position(current, change.end))),
                text=change.text)
        client.text_document_did_change(types.DidChangeTextDocumentParams(
            text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=version),
            content_changes=[event]))
        current = change.apply(current)
    sent = time.perf_counter()
    await status()  # answered once the server has read every edit: how long a request waits
    caught_up = time.perf_counter()
    end, findings = await asyncio.wait_for(final, 600)
    after = await status()
    memory = memory_kib(pid)
    await stop_server(client)
    assert current == replay(text, changes)
    return {
        "send_s": sent - start, "final_ms": (end - sent) * 1000, "findings": findings,
        "caught_up_ms": (caught_up - sent) * 1000,
        "lints": after["run"] - before["run"], "shown": after["shown"] - before["shown"],
        "publications": len(published) - 1,
        "rss_before": rss_before / 1024, "rss_after": memory["VmRSS"] / 1024,
        "rss_peak": memory["VmHWM"] / 1024,
    }


def first_open(lines: int, opens: int) -> None:
    """The editor's first impression, on fresh servers with default settings."""
    text = training_script(lines)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "train.py"
        path.write_text(text, encoding="utf-8")
        runs = {delay: [asyncio.run(first_diagnostics(text, path, delay)) for _ in range(opens)]
                for delay in (0.0, 1.0)}
    debounce = default_debounce_ms()
    print(f"First diagnostics on a {text.count(chr(10))}-line training script, {opens} fresh "
          f"servers with default settings (debounce {debounce:g} ms)")
    print(f"{'':58} {'median':>9} {'p95':>9}")
    handshake = summary([r[0] for r in runs[0.0]])
    print(f"{'launch -> initialize answered':58} {handshake[0]:7.0f}ms {handshake[1]:7.0f}ms")
    for delay, label in ((0.0, "didOpen at once -> first diagnostics"),
                         (1.0, "didOpen 1 s after start -> first diagnostics")):
        median, p95 = summary([r[1] for r in runs[delay]])
        print(f"{label:58} {median:7.0f}ms {p95:7.0f}ms")
    median, p95 = summary([r[2] for r in runs[1.0]])
    print(f"{'didChange -> diagnostics (includes the debounce)':58} {median:7.0f}ms {p95:7.0f}ms")
    print(f"{'  of which the work, beyond the debounce':58} {median - debounce:7.0f}ms "
          f"{p95 - debounce:7.0f}ms\n")


def print_cpu(lint_cpu: list[float], lint_floor_cpu: list[float],
              server_cpu_samples: list[float], server_floor_cpu: list[float]) -> None:
    """The same in CPU time, each beside floor runs made between its own samples."""
    floor_median = summary(lint_floor_cpu + server_floor_cpu)[0]
    lint_median, lint_p95 = summary(lint_cpu)
    print(f"\nIn CPU time (floor runs between the samples: median {floor_median:.1f}ms)")
    print(f"{'Run.lint in-process':40} {lint_median:7.1f}ms {lint_p95:7.1f}ms   "
          f"{lint_median / floor_median:.2f}x / {lint_p95 / floor_median:.2f}x")
    if server_cpu_samples:
        server_median, server_p95 = summary(server_cpu_samples)
        print(f"{'server, from a didChange to the next':40} {server_median:7.1f}ms {server_p95:7.1f}ms   "
              f"{server_median / floor_median:.2f}x / {server_p95 / floor_median:.2f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--edits", type=int, default=100)
    parser.add_argument("--lines", type=int, default=1000)
    parser.add_argument("--storm", type=int, default=2000, help="edits in the storm (0: none)")
    parser.add_argument("--storm-debounce", type=float, nargs="+", default=[200, 0],
                        help="debounce settings (ms) to run the storm with")
    parser.add_argument("--opens", type=int, default=5,
                        help="fresh servers started to time the first diagnostics (0: none)")
    args = parser.parse_args()
    if args.opens:
        first_open(args.lines, args.opens)
    text = training_script(args.lines)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "train.py"
        path.write_text(text, encoding="utf-8")
        floor_samples = floor(text, max(20, args.edits // 5))
        lint_samples, lint_cpu, lint_floor_cpu = in_process(text, path, args.edits)
        server_samples, findings, server_cpu_samples, server_floor_cpu = asyncio.run(
            through_server(text, path, args.edits))
        storms = {debounce: asyncio.run(storm(text, path, args.storm, debounce))
                  for debounce in (args.storm_debounce if args.storm else [])}
        final_text = replay(text, list(Storm(text, STORM_SEED, keep=0, count=args.storm).changes()))
        final_lint = summary(lint_times(final_text, path, 5))[0]
    floor_median, floor_p95 = summary(floor_samples)
    lint_median, lint_p95 = summary(lint_samples)
    server_median, server_p95 = summary(server_samples)
    print(f"LSP latency on a {text.count(chr(10))}-line training script, {args.edits} edits, "
          f"debounce 0 ({findings} findings per lint)")
    print(f"{'':40} {'median':>9} {'p95':>9}")
    print(f"{'libcst parse + one visit (the floor)':40} {floor_median:7.1f}ms {floor_p95:7.1f}ms")
    print(f"{'Run.lint in-process':40} {lint_median:7.1f}ms {lint_p95:7.1f}ms")
    print(f"{'didChange -> publishDiagnostics':40} {server_median:7.1f}ms {server_p95:7.1f}ms")
    print(f"server / floor: median {server_median / floor_median:.2f}x (budget 1.5x), "
          f"p95 {server_p95 / floor_median:.2f}x of the floor's median (budget 2x)")
    print_cpu(lint_cpu, lint_floor_cpu, server_cpu_samples, server_floor_cpu)

    for debounce, numbers in storms.items():
        print(f"\nStorm: {args.storm} edits sent without waiting, debounce {debounce:g} ms "
              f"(one lint of the final text in-process: {final_lint:.0f} ms)")
        print(f"  sent in {numbers['send_s']:.1f} s; a request sent after the last edit answered "
              f"{numbers['caught_up_ms']:.0f} ms later; final diagnostics "
              f"({numbers['findings']} findings) {numbers['final_ms']:.0f} ms after the last edit")
        print(f"  lints run {numbers['lints']} (shown {numbers['shown']}, the rest stale), "
              f"publications {numbers['publications']}")
        print(f"  server RSS {numbers['rss_before']:.0f} MiB before, {numbers['rss_after']:.0f} MiB "
              f"after, peak {numbers['rss_peak']:.0f} MiB")


if __name__ == "__main__":
    main()
