"""End-to-end harness for the language server: the installed ``torchlint lsp``
command driven over stdio by pytest-lsp's client, as an editor would.

``start`` runs a server in a folder and yields an :class:`Editor` that
opens, edits, saves and closes documents and waits for what the server
publishes. Tests select the test-only rules of ``tests/plugins/lsp_rules``
(TL901..TL904) explicitly, so they keep passing when real rules are added.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import sys
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, AsyncIterator

import pytest
from lsprotocol import types
from pygls.protocol import default_converter
from pytest_lsp import LanguageClient
from pytest_lsp.client import DEFAULT_CLIENT_FEATURES, register_lsp_features

TESTS = Path(__file__).resolve().parent.parent
PLUGINS = TESTS / "plugins"
PLUGIN_RULES = "lsp_rules"
#: The rules the server is told to use: TL001 (syntax errors, a real rule) and the test
#: rules (TL903 crashes: selected only where wanted).
TEST_RULES = ["TL001", "TL901", "TL902", "TL904"]
WAIT = 30.0  # seconds before a test gives up waiting for the server

_LINE_BREAK = re.compile(r"\r\n|\r|\n")


def torchlint_executable() -> str:
    candidate = Path(sys.executable).parent / "torchlint"
    if candidate.exists():
        return str(candidate)
    found = shutil.which("torchlint")
    if found is None:
        pytest.fail("the torchlint command is not installed: pip install -e '.[dev]'")
    return found


def server_env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env["TORCHLINT_PLUGINS"] = PLUGIN_RULES
    env["PYTHONPATH"] = os.pathsep.join([str(PLUGINS), env.get("PYTHONPATH", "")])
    env.update(extra)
    return env


@dataclass
class Published:
    seq: int
    uri: str
    version: int | None
    diagnostics: list[types.Diagnostic]


@dataclass
class Recorder:
    """Every publishDiagnostics, in order (pytest-lsp keeps only the latest)."""

    items: list[Published] = field(default_factory=list)
    changed: asyncio.Event = field(default_factory=asyncio.Event)


def make_client(recorder: Recorder) -> LanguageClient:
    client = LanguageClient(converter_factory=default_converter)
    register_lsp_features(client, {m: f for m, f in DEFAULT_CLIENT_FEATURES.items()
                                   if m != types.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS})

    @client.feature(types.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS)
    def on_publish(client_: LanguageClient, params: types.PublishDiagnosticsParams) -> None:
        client_.diagnostics[params.uri] = params.diagnostics
        recorder.items.append(Published(len(recorder.items), params.uri, params.version,
                                        list(params.diagnostics)))
        recorder.changed.set()

    return client


def offset(text: str, position: types.Position) -> int:
    """Character offset of an LSP (UTF-16) position in `text`."""
    starts = [0] + [m.end() for m in _LINE_BREAK.finditer(text)]
    if position.line >= len(starts):
        return len(text)
    line_start = starts[position.line]
    units = 0
    index = line_start
    while index < len(text) and units < position.character and text[index] not in "\r\n":
        units += 2 if ord(text[index]) > 0xFFFF else 1
        index += 1
    return index


def apply_edits(text: str, edits: list[types.TextEdit]) -> str:
    spans = sorted(((offset(text, e.range.start), offset(text, e.range.end), e.new_text)
                    for e in edits), reverse=True)
    for begin, end, new in spans:
        text = text[:begin] + new + text[end:]
    return text


def brief(diagnostics: list[types.Diagnostic]) -> list[tuple[Any, ...]]:
    """(code, severity, (line, char, end line, end char), message), 0-based as LSP sends."""
    return [
        (d.code, d.severity.name if d.severity else None,
         (d.range.start.line, d.range.start.character, d.range.end.line, d.range.end.character),
         d.message)
        for d in diagnostics
    ]


class Editor:
    def __init__(self, client: LanguageClient, recorder: Recorder, root: Path) -> None:
        self.client = client
        self.recorder = recorder
        self.root = root
        self.texts: dict[str, str] = {}
        self.versions: dict[str, int] = {}

    def uri(self, name: str) -> str:
        return (self.root / name).as_uri()

    def mark(self) -> int:
        """A point in the stream of publications (for `published(after=...)`)."""
        return len(self.recorder.items)

    async def published(self, uri: str, version: int | None = None, after: int | None = None,
                        timeout: float = WAIT) -> list[types.Diagnostic]:
        """The diagnostics of the first publication for `uri` with `version`
        (any version when None) after mark `after`."""
        start = after if after is not None else 0

        async def wait() -> list[types.Diagnostic]:
            index = start
            while True:
                while index < len(self.recorder.items):
                    item = self.recorder.items[index]
                    index += 1
                    if item.uri == uri and (version is None or item.version == version):
                        return item.diagnostics
                self.recorder.changed.clear()
                await self.recorder.changed.wait()

        return await asyncio.wait_for(wait(), timeout)

    async def settles(self, uri: str, expected: list[tuple[Any, ...]], after: int = 0,
                      timeout: float = WAIT) -> None:
        """Wait until a publication for `uri` after mark `after` is `expected` (in
        :func:`brief` form). For changes that reach a document through another
        file, where the server may publish more than once on the way."""
        try:
            await self.until(lambda: any(brief(p.diagnostics) == expected
                                         for p in self.publications(uri, after)), timeout)
        except asyncio.TimeoutError:
            seen = [brief(p.diagnostics) for p in self.publications(uri, after)]
            raise AssertionError(f"{uri} never published {expected}; published: {seen}") from None

    def publications(self, uri: str, after: int = 0) -> list[Published]:
        return [p for p in self.recorder.items[after:] if p.uri == uri]

    async def open(self, name: str, text: str | None = None, language: str = "python") -> str:
        uri = self.uri(name)
        if text is None:
            text = (self.root / name).read_text(encoding="utf-8")
        self.texts[uri], self.versions[uri] = text, 1
        self.client.text_document_did_open(types.DidOpenTextDocumentParams(
            types.TextDocumentItem(uri=uri, language_id=language, version=1, text=text)))
        return uri

    def edit(self, uri: str, start: tuple[int, int], end: tuple[int, int], new: str,
             result: str | None = None) -> int:
        """An incremental change; returns the new version. `result`: the text
        after it, when the caller already knows it (saves applying it here)."""
        area = types.Range(types.Position(*start), types.Position(*end))
        self.texts[uri] = result if result is not None else apply_edits(
            self.texts[uri], [types.TextEdit(area, new)])
        return self._send(uri, [types.TextDocumentContentChangePartial(range=area, text=new)])

    def replace_all(self, uri: str, text: str) -> int:
        """A full-text change; returns the new version."""
        self.texts[uri] = text
        return self._send(uri, [types.TextDocumentContentChangeWholeDocument(text=text)])

    def apply(self, uri: str, edit: types.WorkspaceEdit) -> int:
        """Apply a code action's edit as an editor does: change the text, send it."""
        assert edit.changes is not None and list(edit.changes) == [uri]
        text = apply_edits(self.texts[uri], list(edit.changes[uri]))
        return self.replace_all(uri, text)

    def _send(self, uri: str, changes: list[Any]) -> int:
        self.versions[uri] += 1
        self.client.text_document_did_change(types.DidChangeTextDocumentParams(
            text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=self.versions[uri]),
            content_changes=changes))
        return self.versions[uri]

    def save(self, uri: str) -> None:
        self.client.text_document_did_save(types.DidSaveTextDocumentParams(
            types.TextDocumentIdentifier(uri)))

    def close(self, uri: str) -> None:
        self.client.text_document_did_close(types.DidCloseTextDocumentParams(
            types.TextDocumentIdentifier(uri)))

    def files_changed(self, *changes: tuple[str, types.FileChangeType]) -> None:
        self.client.workspace_did_change_watched_files(types.DidChangeWatchedFilesParams(
            changes=[types.FileEvent(uri=self.uri(name), type=kind) for name, kind in changes]))

    def configure(self, settings: Any) -> None:
        self.client.workspace_did_change_configuration(
            types.DidChangeConfigurationParams(settings=settings))

    async def pull(self, uri: str) -> list[types.Diagnostic]:
        report = await self.client.text_document_diagnostic_async(
            types.DocumentDiagnosticParams(text_document=types.TextDocumentIdentifier(uri)))
        return list(report.items)

    async def hover(self, uri: str, line: int, character: int) -> str | None:
        answer = await self.client.text_document_hover_async(types.HoverParams(
            types.TextDocumentIdentifier(uri), types.Position(line, character)))
        if answer is None:
            return None
        assert isinstance(answer.contents, types.MarkupContent)
        assert answer.contents.kind == types.MarkupKind.Markdown
        return answer.contents.value

    async def actions(self, uri: str, diagnostics: list[types.Diagnostic],
                      only: list[str] | None = None) -> list[types.CodeAction]:
        area = diagnostics[0].range if diagnostics else types.Range(
            types.Position(0, 0), types.Position(0, 0))
        found = await self.client.text_document_code_action_async(types.CodeActionParams(
            text_document=types.TextDocumentIdentifier(uri), range=area,
            context=types.CodeActionContext(diagnostics=diagnostics, only=only)))
        return [a for a in found or [] if isinstance(a, types.CodeAction)]

    async def until(self, condition: Any, timeout: float = WAIT) -> None:
        """Wait until `condition()` is true (messages and logs arrive asynchronously)."""
        async def wait() -> None:
            while not condition():
                await asyncio.sleep(0.02)
        await asyncio.wait_for(wait(), timeout)


@asynccontextmanager
async def start(root: Path, settings: dict[str, Any] | None = None,
                capabilities: types.ClientCapabilities | None = None,
                env: dict[str, str] | None = None,
                process_id: int | None = None, command: str = "lsp") -> AsyncIterator[Editor]:
    """A `torchlint lsp` server (or `torchlint server`) in `root`, initialized with `settings`."""
    recorder = Recorder()
    client = make_client(recorder)
    await client.start_io(torchlint_executable(), command, env=server_env(**(env or {})), cwd=str(root))
    try:
        await client.initialize_session(types.InitializeParams(
            capabilities=capabilities or types.ClientCapabilities(),
            process_id=process_id,
            root_uri=root.as_uri(),
            workspace_folders=[types.WorkspaceFolder(uri=root.as_uri(), name=root.name)],
            initialization_options={"select": TEST_RULES, "debounce": 0, **(settings or {})},
        ))
        yield Editor(client, recorder, root)
        if client._server is not None and client._server.returncode is None:
            await client.shutdown_session()
    finally:
        if client._server is not None and client._server.returncode is None:
            client._server.kill()
        await client.stop()


def alive(pid: int) -> bool:
    """Whether process `pid` runs (a zombie, ended but not yet reaped, does not)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            return handle.read().rsplit(b")", 1)[1].split()[0] != b"Z"
    except FileNotFoundError:
        return False
    except OSError:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        return True


def cli_brief(findings: list[dict[str, Any]], text: str) -> list[tuple[Any, ...]]:
    """The CLI's JSON findings in the shape of :func:`brief` (UTF-16, 0-based),
    to compare the two front ends on the same text."""
    lines = _LINE_BREAK.split(text)

    def units(line: int, column: int) -> int:
        return len(lines[line - 1][:column - 1].encode("utf-16-le")) // 2

    severity = {"error": "Error", "warning": "Warning"}
    return [
        (f["code"], severity[f["severity"]],
         (f["line"] - 1, units(f["line"], f["column"]), f["end_line"] - 1,
          units(f["end_line"], f["end_column"])), f["message"])
        for f in findings
    ]
