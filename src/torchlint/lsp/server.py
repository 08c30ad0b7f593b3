"""``torchlint lsp``: the language server on standard input and output.

This module only wires LSP messages to the :class:`Session`; the work is
done there and in the modules it uses.
"""

from __future__ import annotations

import asyncio
import logging
import os
from typing import Any

from lsprotocol import types
from pygls.lsp.server import LanguageServer

from torchlint import __version__
from torchlint.lsp import stdio
from torchlint.lsp.actions import KINDS
from torchlint.lsp.protocol import TEXT_DOCUMENT_SYNC, EditorProtocol
from torchlint.lsp.session import Session

#: How often the server checks that the editor that started it is still alive.
PARENT_CHECK_SECONDS = 2.0
WATCHED_FILES = ("**/*.py", "**/*.pyi", "**/pyproject.toml")
#: A request of our own: what the server holds now (open documents, queued work,
#: lints run, memory), for bug reports and the load tests.
STATUS = "torchlint/status"


class TorchlintServer(LanguageServer):
    def __init__(self) -> None:
        super().__init__(
            name="torchlint",
            version=__version__,
            text_document_sync_kind=TEXT_DOCUMENT_SYNC,
            protocol_cls=EditorProtocol,
            notebook_document_sync=types.NotebookDocumentSyncOptions(
                notebook_selector=[types.NotebookDocumentFilterWithCells(
                    notebook="*", cells=[types.NotebookCellLanguage(language="python")])],
                save=True,
            ),
        )
        self.session = Session(self)

    def shutdown(self) -> None:
        # Also reached when the client disconnects (end of input): end what we started.
        self.session.close()
        super().shutdown()


def build() -> TorchlintServer:
    server = TorchlintServer()
    session = server.session

    @server.feature(types.INITIALIZE)
    def initialize(params: types.InitializeParams) -> None:
        session.initialize(params)

    @server.feature(types.INITIALIZED)
    async def initialized(params: types.InitializedParams) -> None:
        await _watch_files(server)
        if server.process_id:
            asyncio.get_running_loop().create_task(_exit_with_parent(server, server.process_id))

    @server.feature(types.SHUTDOWN)
    def shutdown(params: None) -> None:
        session.close()

    @server.feature(types.EXIT)
    def exit_(params: None) -> None:
        session.close()

    @server.feature(types.TEXT_DOCUMENT_DID_OPEN)
    def did_open(params: types.DidOpenTextDocumentParams) -> None:
        session.open_text(params.text_document)

    @server.feature(types.TEXT_DOCUMENT_DID_CHANGE)
    def did_change(params: types.DidChangeTextDocumentParams) -> None:
        session.change_text(params.text_document)

    @server.feature(types.TEXT_DOCUMENT_DID_SAVE, types.SaveOptions(include_text=False))
    def did_save(params: types.DidSaveTextDocumentParams) -> None:
        session.save(params.text_document.uri)

    @server.feature(types.TEXT_DOCUMENT_DID_CLOSE)
    def did_close(params: types.DidCloseTextDocumentParams) -> None:
        session.close_document(params.text_document.uri)

    @server.feature(types.NOTEBOOK_DOCUMENT_DID_OPEN)
    def notebook_open(params: types.DidOpenNotebookDocumentParams) -> None:
        session.open_notebook(params.notebook_document)

    @server.feature(types.NOTEBOOK_DOCUMENT_DID_CHANGE)
    def notebook_change(params: types.DidChangeNotebookDocumentParams) -> None:
        # Cells that were removed lose their diagnostics when the notebook is re-linted.
        session.change_notebook(params.notebook_document.uri, params.notebook_document.version)

    @server.feature(types.NOTEBOOK_DOCUMENT_DID_SAVE)
    def notebook_save(params: types.DidSaveNotebookDocumentParams) -> None:
        session.save(params.notebook_document.uri)

    @server.feature(types.NOTEBOOK_DOCUMENT_DID_CLOSE)
    def notebook_close(params: types.DidCloseNotebookDocumentParams) -> None:
        session.close_document(params.notebook_document.uri)

    @server.feature(types.TEXT_DOCUMENT_DIAGNOSTIC, types.DiagnosticOptions(
        identifier="torchlint", inter_file_dependencies=True, workspace_diagnostics=False))
    async def diagnostic(params: types.DocumentDiagnosticParams) -> types.DocumentDiagnosticReport:
        items = await session.pull(params.text_document.uri)
        return types.RelatedFullDocumentDiagnosticReport(items=items)

    @server.feature(types.TEXT_DOCUMENT_CODE_ACTION, types.CodeActionOptions(
        code_action_kinds=KINDS, resolve_provider=False))
    async def code_action(params: types.CodeActionParams) -> list[types.CodeAction]:
        return await session.code_actions(params)

    @server.feature(types.TEXT_DOCUMENT_HOVER)
    def hover(params: types.HoverParams) -> types.Hover | None:
        return session.hover(params.text_document.uri, params.position)

    @server.feature(STATUS)
    def status(params: Any) -> dict[str, Any]:
        return session.status()

    @server.feature(types.WORKSPACE_DID_CHANGE_CONFIGURATION)
    async def did_change_configuration(params: types.DidChangeConfigurationParams) -> None:
        settings = params.settings
        if not settings and _supports_configuration(server):
            # Clients that send no settings expect to be asked for them.
            answer = await server.workspace_configuration_async(types.ConfigurationParams(
                items=[types.ConfigurationItem(section="torchlint")]))
            settings = answer[0] if answer else None
        session.apply_settings(settings)

    @server.feature(types.WORKSPACE_DID_CHANGE_WATCHED_FILES)
    def did_change_watched_files(params: types.DidChangeWatchedFilesParams) -> None:
        session.files_changed_on_disk(list(params.changes))

    return server


def _supports_configuration(server: LanguageServer) -> bool:
    workspace = server.client_capabilities.workspace
    return bool(workspace and workspace.configuration)


async def _watch_files(server: LanguageServer) -> None:
    """Ask the client to tell us when Python files or pyproject.toml change on disk."""
    workspace = server.client_capabilities.workspace
    watched = workspace.did_change_watched_files if workspace else None
    if not (watched and watched.dynamic_registration):
        return
    options = types.DidChangeWatchedFilesRegistrationOptions(
        watchers=[types.FileSystemWatcher(glob_pattern=glob) for glob in WATCHED_FILES])
    try:
        await server.client_register_capability_async(types.RegistrationParams(registrations=[
            types.Registration(id="torchlint-watched-files",
                               method=types.WORKSPACE_DID_CHANGE_WATCHED_FILES,
                               register_options=options)]))
    except Exception as err:  # noqa: BLE001 - a client that refuses still gets the rest
        server.session.log(f"torchlint: could not watch files: {err}", types.MessageType.Warning)


async def _exit_with_parent(server: TorchlintServer, pid: int) -> None:
    """LSP asks a server to exit when the process that started it is gone,
    even if nobody closed its input."""
    while True:
        await asyncio.sleep(PARENT_CHECK_SECONDS)
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            server.session.close()
            os._exit(1)
        except PermissionError:
            pass  # alive, owned by someone else


def serve() -> None:
    logging.basicConfig(level=logging.WARNING, format="torchlint lsp: %(message)s")
    server = build()
    server.session.warm_up()  # on the lint thread, while the client's first messages arrive
    stdio.serve(server)
