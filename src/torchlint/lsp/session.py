"""The server's state and work: open documents, linting them, publishing.

Lints run one at a time on a worker thread, through the CLI's
:class:`~torchlint.runner.Run`, so the event loop keeps reading messages: an
edit that arrives while a lint runs makes that lint stale, and its result is
dropped. Each document's lint waits for a debounce after an edit; a newer
edit cancels the waiting one. Everything that touches the shared
:class:`~torchlint.semantic.project.Project` (its caches of other files, the
editor's texts of them) also runs on that thread, in order, so a lint never
sees half of a change.
"""

from __future__ import annotations

import asyncio
import os
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

from lsprotocol import types
from pygls.uris import to_fs_path

from torchlint.engine import FileResult
from torchlint.lsp import actions, heap, noqa
from torchlint.lsp.configs import EditorConfigs
from torchlint.lsp.diagnostics import to_diagnostic
from torchlint.lsp.documents import (
    Linted,
    OpenDocument,
    Snapshot,
    notebook_snapshot,
    text_snapshot,
)
from torchlint.lsp.hover import prefix_markdown, rule_markdown
from torchlint.lsp.lint_thread import LintThread
from torchlint.lsp.positions import Lines
from torchlint.lsp.probe import ProbeProcesses, probe_request
from torchlint.lsp.settings import Settings, parse, section
from torchlint.registry import RuleSet, UnknownRuleError
from torchlint.runner import Run, Selection
from torchlint.semantic.project import Project

if TYPE_CHECKING:
    from pygls.lsp.server import LanguageServer

PYTHON_SUFFIXES = (".py", ".pyi")


def _key(uri: str) -> str:
    return unquote(uri)


def _path(uri: str) -> Path | None:
    path = to_fs_path(uri) if uri.startswith("file:") else None
    return Path(path) if path else None


@dataclass
class LintCounts:
    run: int = 0  # lints the lint thread ran (only that thread counts them)
    shown: int = 0  # of which the result was shown; the others were stale on arrival
    collected: int = 0  # collections of lints' garbage made between lints (lsp/heap.py)


class Session:
    def __init__(self, server: LanguageServer) -> None:
        self.server = server
        self.settings = Settings()
        self.configs = EditorConfigs()
        self.project = Project()
        self.documents: dict[str, OpenDocument] = {}  # by unquoted document URI
        self.folders: list[Path] = []
        self.push = True  # False when the client pulls diagnostics itself
        self.refresh_support = False
        self.reported: set[str] = set()  # messages already shown (bad config, settings)
        self._initial: dict[str, Any] = {}  # the settings of initializationOptions
        self.probes = ProbeProcesses()
        self.lints = LintCounts()
        self._thread = LintThread()
        self._closed = False

    # -- setup and teardown ---------------------------------------------------

    def initialize(self, params: types.InitializeParams) -> None:
        capabilities = params.capabilities
        text = capabilities.text_document
        self.push = not (text is not None and text.diagnostic is not None)
        workspace = capabilities.workspace
        diagnostics = workspace.diagnostics if workspace is not None else None
        self.refresh_support = bool(diagnostics and diagnostics.refresh_support)
        for folder in params.workspace_folders or []:
            path = _path(folder.uri)
            if path is not None:
                self.folders.append(path)
        root = _path(params.root_uri) if params.root_uri else None
        if not self.folders and root is not None:
            self.folders.append(root)
        self.apply_settings(params.initialization_options, initial=True)

    def warm_up(self) -> None:
        """Before the first message: on the lint thread, load every rule and lint
        a small training script, so the first document opened pays only for its
        own lint (the rules' and the semantic layer's imports, libcst's parser
        and the regular expressions are ready). It runs while the main thread
        finishes importing the protocol and answers initialize."""
        heap.freeze()
        self._thread.submit(_warm_lint)

    def close(self) -> None:
        """End everything the session started: probe processes, pending lints."""
        if self._closed:
            return
        self._closed = True
        for doc in self.documents.values():
            for task in (doc.pending, doc.probe):
                if task is not None:
                    task.cancel()
        self.probes.kill_all()
        self._thread.shutdown()

    def status(self) -> dict[str, Any]:
        """What the server holds now (``torchlint/status``): for bug reports about
        a slow or growing server, and for the load tests."""
        return {
            "pid": os.getpid(),
            "documents": len(self.documents),
            "pendingLints": sum(1 for doc in self.documents.values()
                                if doc.pending is not None and not doc.pending.done()),
            "runningProbes": sum(1 for doc in self.documents.values()
                                 if doc.probe is not None and not doc.probe.done()),
            "queuedJobs": self._thread.unfinished,
            "overlays": len(self.project.overlays),  # a path may be there twice (as given, resolved)
            "tasks": len(asyncio.all_tasks()),
            "requestFutures": len(getattr(self.server.protocol, "_request_futures", ())),
            "lints": {"run": self.lints.run, "shown": self.lints.shown,
                      "collected": self.lints.collected},
            "frozenObjects": heap.frozen(),
            "rssKiB": _rss_kib(),
        }

    # -- messages to the client -----------------------------------------------

    def show_once(self, message: str, kind: types.MessageType = types.MessageType.Error) -> None:
        if message in self.reported:
            return
        self.reported.add(message)
        self.server.window_show_message(types.ShowMessageParams(type=kind, message=message))

    def log(self, message: str, kind: types.MessageType = types.MessageType.Info) -> None:
        self.server.window_log_message(types.LogMessageParams(type=kind, message=message))

    # -- settings and configuration -------------------------------------------

    def apply_settings(self, raw: Any, *, initial: bool = False) -> None:
        """Settings from initializationOptions (`initial`), or a change of them."""
        given = section(raw)
        if initial:
            self._initial = given if isinstance(given, dict) else {}
        elif not isinstance(given, dict):
            return  # nothing for torchlint in this change
        else:
            given = {**self._initial, **given}
        settings, problems = parse(given)
        for problem in problems:
            self.show_once(problem, types.MessageType.Warning)
        if settings == self.settings:
            return
        self.settings = settings
        self.relint_all()

    def reload_configuration(self) -> None:
        self.configs = EditorConfigs()
        self.reported = {m for m in self.reported if m.startswith("torchlint settings:")}
        self.relint_all()

    def _report_config_problems(self) -> None:
        for problem in list(self.configs.problems):
            self.show_once(f"torchlint: {problem}")

    # -- documents --------------------------------------------------------------

    def display(self, path: Path | None, uri: str) -> str:
        if path is None:
            return uri
        for folder in self.folders:
            try:
                return path.relative_to(folder).as_posix()
            except ValueError:
                continue
        return str(path)

    def _new_document(self, uri: str, version: int | None, notebook: bool) -> OpenDocument:
        path = _path(uri)
        doc = OpenDocument(uri=uri, path=path, display=self.display(path, uri),
                           resolved=path.resolve() if path is not None else None,
                           notebook=notebook, version=version)
        self.documents[_key(uri)] = doc
        return doc

    def open_text(self, item: types.TextDocumentItem) -> None:
        if self.notebook_of_cell(item.uri) is not None:
            return  # a notebook cell: linted with its notebook
        if item.language_id != "python" and not item.uri.endswith(PYTHON_SUFFIXES):
            return
        doc = self._new_document(item.uri, item.version, notebook=False)
        self._set_overlay(doc.path, item.text)
        self.schedule(doc, 0)
        if doc.resolved is not None and _differs_from_disk(doc.resolved, item.text):
            self.relint_dependents(doc.resolved, 0)

    def change_text(self, identifier: types.VersionedTextDocumentIdentifier) -> None:
        doc = self.documents.get(_key(identifier.uri))
        if doc is None:
            notebook = self.notebook_of_cell(identifier.uri)
            if notebook is not None:
                self.change_notebook(notebook.uri, notebook.version)
            return
        doc.version = identifier.version
        doc.invalidate()
        self._set_overlay(doc.path, self._text(doc.uri))
        self.schedule(doc, self.settings.debounce)
        if doc.resolved is not None:
            self.relint_dependents(doc.resolved, self.settings.debounce)

    def save(self, uri: str) -> None:
        doc = self.documents.get(_key(uri))
        if doc is None:
            return
        doc.invalidate()
        self.schedule(doc, 0)
        if self.settings.probe_on_save:
            self.start_probe(doc)

    def close_document(self, uri: str) -> None:
        doc = self.documents.pop(_key(uri), None)
        if doc is None:
            return
        for task in (doc.pending, doc.probe):
            if task is not None:
                task.cancel()
        if self.push:
            for target_uri in doc.shown:
                self._publish(target_uri, [], None)
        if doc.path is not None and doc.resolved is not None and not doc.notebook:
            self._drop_overlay(doc.path)
            self.relint_dependents(doc.resolved, 0)

    def open_notebook(self, notebook: types.NotebookDocument) -> None:
        doc = self._new_document(notebook.uri, notebook.version, notebook=True)
        self.schedule(doc, 0)

    def change_notebook(self, uri: str, version: int | None) -> None:
        doc = self.documents.get(_key(uri))
        if doc is None:
            return
        doc.version = version
        doc.invalidate()
        self.schedule(doc, self.settings.debounce)

    def notebook_of_cell(self, cell_uri: str) -> types.NotebookDocument | None:
        return self.server.workspace.get_notebook_document(cell_uri=cell_uri)

    def _text(self, uri: str) -> str:
        document = self.server.workspace.text_documents.get(_key(uri))
        return document.source if document is not None else ""

    def snapshot(self, doc: OpenDocument) -> Snapshot | None:
        if not doc.notebook:
            return text_snapshot(doc, self._text(doc.uri))
        notebook = self.server.workspace.get_notebook_document(notebook_uri=doc.uri)
        if notebook is None:
            return None
        texts = {}
        for cell in notebook.cells:
            document = self.server.workspace.text_documents.get(_key(cell.document))
            if document is not None:
                texts[cell.document] = document.source
        return notebook_snapshot(doc, notebook, texts)

    # -- the project: other files as the editor holds them -------------------------

    def _set_overlay(self, path: Path | None, text: str) -> None:
        if path is not None:
            self._thread.submit_latest(path, self._overlay_job, text)

    def _drop_overlay(self, path: Path) -> None:
        self._thread.submit_latest(path, self._overlay_job, None)

    def _overlay_job(self, path: Path, text: str | None) -> None:
        # Runs on the lint thread; reads self.project then, so a project replaced
        # meanwhile gets the change too.
        for key in {path, path.resolve()}:
            if text is None:
                self.project.overlays.pop(key, None)
            else:
                self.project.overlays[key] = text
        self.project.forget(path)

    def files_changed_on_disk(self, changes: list[types.FileEvent]) -> None:
        """workspace/didChangeWatchedFiles: pyproject.toml, or Python files
        that open documents may import."""
        reload = False
        renewed = False
        changed: list[Path] = []
        open_paths = {doc.resolved for doc in self.documents.values()
                      if doc.resolved is not None and not doc.notebook}
        for change in changes:
            path = _path(change.uri)
            if path is None:
                continue
            if path.name == "pyproject.toml":
                reload = True
            elif path.suffix in PYTHON_SUFFIXES and path.resolve() not in open_paths:
                if change.type in (types.FileChangeType.Created, types.FileChangeType.Deleted):
                    renewed = True  # where imports resolve may change for any file
                changed.append(path)
        if renewed:
            self._thread.submit(self._renew_project_job)
            self.relint_all()
        for path in changed:
            self._thread.submit(self.project_forget_job, path)
            self.relint_dependents(path.resolve(), 0)
        if reload:
            self.reload_configuration()

    def project_forget_job(self, path: Path) -> None:
        self.project.forget(path)

    def _renew_project_job(self) -> None:
        self.project = Project(overlays=dict(self.project.overlays))

    def relint_dependents(self, resolved: Path, delay: float) -> None:
        """Relint the open documents whose last lint read the file at `resolved`
        (a resolved path)."""
        for doc in list(self.documents.values()):
            if doc.resolved == resolved:
                continue
            if doc.depends_on(resolved):
                doc.invalidate()
                self.schedule(doc, delay, refresh=True)

    def relint_all(self) -> None:
        for doc in list(self.documents.values()):
            doc.invalidate()
            self.schedule(doc, 0, refresh=True)

    # -- linting ------------------------------------------------------------------

    def schedule(self, doc: OpenDocument, delay: float, refresh: bool = False) -> None:
        """Lint `doc` after `delay` seconds, replacing a lint still waiting."""
        if self._closed:
            return
        if doc.pending is not None and not doc.pending.done():
            doc.pending.cancel()
        doc.pending = asyncio.get_running_loop().create_task(self._lint_later(doc, delay, refresh))

    async def _lint_later(self, doc: OpenDocument, delay: float, refresh: bool) -> None:
        if delay > 0:
            await asyncio.sleep(delay)
        try:
            if await self.lint(doc) and refresh and not self.push:
                self._request_refresh()
        except Exception:  # noqa: BLE001 - a bug here must reach the user, not end the server
            self._internal_error(doc)

    def _internal_error(self, doc: OpenDocument) -> None:
        self.log(f"torchlint: internal error on {doc.display}; please report it:\n"
                 f"{traceback.format_exc()}", types.MessageType.Error)

    async def lint(self, doc: OpenDocument) -> bool:
        """Bring `doc`'s diagnostics up to date; False when a newer change made
        this lint stale (a later one will publish)."""
        if doc.current:
            return True
        snapshot = self.snapshot(doc)
        if snapshot is None:
            return False
        future = self._thread.submit(self._lint_job, self.settings.selection, snapshot)
        try:
            outcome = await asyncio.wrap_future(future)
        except asyncio.CancelledError:
            future.cancel()
            raise
        except Exception:  # noqa: BLE001 - a bug in torchlint must not end the server
            self._internal_error(doc)
            return False
        self._report_config_problems()
        if self.documents.get(_key(doc.uri)) is not doc or doc.generation != snapshot.generation:
            return False  # stale: the document changed (or closed) while this ran
        self.lints.shown += 1
        doc.linted, doc.outcome = snapshot, outcome
        self._log_rule_errors(doc, outcome.result)
        self.show(doc)
        self._thread.submit(self._collect_job)  # after the diagnostics are out
        return True

    def _run(self, selection: Selection) -> Run:
        # Only on the lint thread, which alone replaces the project: a Run made
        # earlier on the event loop could hold a project already replaced.
        return Run(configs=self.configs, selection=selection, project=self.project)

    def _lint_job(self, selection: Selection, snapshot: Snapshot) -> Linted:
        self.lints.run += 1
        run = self._run(selection)
        source = snapshot.source
        config = self.configs.for_file(source.path)
        if source.path is not None and config.excludes(source.path):
            result = FileResult(display=source.display, source=source)  # as the CLI skips it
        else:
            try:
                result = run.lint(source)
            except UnknownRuleError as err:  # settings are checked first; stay alive anyway
                result = FileResult(display=source.display, source=source, errors=[str(err)])
        dependencies = frozenset(path.resolve() for path in result.dependencies)
        return Linted(result, dependencies, config.probe.refuted)

    def _collect_job(self) -> None:
        """The last lint's garbage, collected between lints (see lsp/heap.py);
        skipped when another job waits: that job comes first, and the collection
        after its lint takes this garbage too."""
        if self._thread.unfinished <= 1:  # this job alone
            heap.collect_lint_garbage()
            self.lints.collected += 1

    def _log_rule_errors(self, doc: OpenDocument, result: FileResult) -> None:
        errors = frozenset(result.errors)
        for message in sorted(errors - doc.logged):
            self.log(f"torchlint: {message}", types.MessageType.Error)
        doc.logged = errors

    def show(self, doc: OpenDocument) -> None:
        """Turn `doc`'s last result into diagnostics (with probe verdicts), and
        publish them when the client takes pushed diagnostics."""
        snapshot, outcome = doc.linted, doc.outcome
        if snapshot is None or outcome is None:
            return
        rules = RuleSet.all()
        codec = self.server.workspace.position_codec
        lines = {t.uri: Lines(t.text, codec) for t in snapshot.targets}
        shown: dict[str, list] = {t.uri: [] for t in snapshot.targets}
        refuted = self.settings.refuted or outcome.refuted
        for finding in outcome.result.findings:
            target = snapshot.target_of(finding)
            if target is None:
                continue
            probe = doc.verdicts.for_finding(finding, snapshot.source.text) if doc.verdicts else None
            diagnostic = to_diagnostic(finding, lines[target.uri], rules, snapshot.version,
                                       probe, refuted)
            if diagnostic is not None:
                shown[target.uri].append((finding, diagnostic))
        removed = [uri for uri in doc.shown if uri not in shown]
        doc.shown = shown
        if self.push:
            for uri in removed:
                self._publish(uri, [], None)
            for uri, pairs in shown.items():
                self._publish(uri, [d for _, d in pairs], snapshot.version)

    def _publish(self, uri: str, diagnostics: list[types.Diagnostic], version: int | None) -> None:
        self.server.text_document_publish_diagnostics(
            types.PublishDiagnosticsParams(uri=uri, diagnostics=diagnostics, version=version))

    def _request_refresh(self) -> None:
        if self.refresh_support:
            self.server.workspace_diagnostic_refresh(None)

    # -- pull diagnostics ---------------------------------------------------------

    def document_for(self, uri: str) -> OpenDocument | None:
        """The open document that `uri` is, or whose notebook cell it is."""
        doc = self.documents.get(_key(uri))
        if doc is None:
            notebook = self.notebook_of_cell(uri)
            if notebook is not None:
                doc = self.documents.get(_key(notebook.uri))
        return doc

    async def pull(self, uri: str) -> list[types.Diagnostic]:
        doc = self.document_for(uri)
        if doc is None:
            return []
        for _ in range(3):  # an edit may land meanwhile; then lint its text
            if await self.lint(doc):
                break
        return [d for _, d in self.shown_at(uri)]

    def shown_at(self, uri: str) -> list[tuple[Any, types.Diagnostic]]:
        doc = self.document_for(uri)
        if doc is None:
            return []
        return doc.shown.get(uri) or doc.shown.get(_key(uri)) or []

    # -- hover --------------------------------------------------------------------

    def hover(self, uri: str, position: types.Position) -> types.Hover | None:
        rules = RuleSet.all()
        pages: list[str] = []
        doc = self.document_for(uri)
        for finding, diagnostic in self._shown_for_text(uri):
            if _contains(diagnostic.range, position):
                rule = rules.by_code(finding.code)
                if rule is not None:
                    probe = doc.verdicts.for_finding(finding, doc.linted.source.text) \
                        if doc and doc.verdicts and doc.linted else None
                    pages.append(rule_markdown(rule, probe, finding))
        if not pages:
            text = self._text(uri)
            line, column = Lines(text, self.server.workspace.position_codec).character(position)
            code = noqa.code_at(text, line, column)
            if code is None:
                return None
            rule = rules.by_code(code)
            if rule is not None:
                pages.append(rule_markdown(rule))
            else:
                try:
                    pages.append(prefix_markdown(code, rules.matching(code)))
                except UnknownRuleError:
                    return None
        return types.Hover(contents=types.MarkupContent(
            kind=types.MarkupKind.Markdown, value="\n\n---\n\n".join(pages)))

    def _shown_for_text(self, uri: str) -> list[tuple[Any, types.Diagnostic]]:
        """The diagnostics shown on `uri` if they were computed for the text it has
        now: after an edit not yet linted their ranges point into the old text, and
        a hover there would explain a finding that is no longer under the cursor."""
        doc = self.document_for(uri)
        if doc is None or doc.linted is None:
            return []
        text = self._text(uri)
        if not any(_key(t.uri) == _key(uri) and t.text == text for t in doc.linted.targets):
            return []
        return self.shown_at(uri)

    # -- code actions ---------------------------------------------------------------

    async def code_actions(self, params: types.CodeActionParams) -> list[types.CodeAction]:
        uri = params.text_document.uri
        doc = self.document_for(uri)
        if doc is None:
            return []
        only = list(params.context.only) if params.context.only else None
        text = self._text(uri)
        lines = Lines(text, self.server.workspace.position_codec)
        found: list[types.CodeAction] = []
        version = self._version(uri, doc)
        if actions.wanted(only, types.CodeActionKind.QuickFix):
            fixes, disables = [], []
            for diagnostic in params.context.diagnostics:
                fix = actions.quick_fix(uri, diagnostic, version, self.settings.unsafe_fixes)
                if fix is not None:
                    fixes.append(fix)
                disable = actions.disable_for_line(uri, diagnostic, text, lines)
                if disable is not None:
                    disables.append(disable)
            found += fixes + disables
        if actions.wanted(only, actions.FIX_ALL_KIND) and not doc.notebook:
            fix_all = await self._fix_all(doc, uri, text, lines)
            if fix_all is not None:
                found.append(fix_all)
        return found

    def _version(self, uri: str, doc: OpenDocument) -> int | None:
        document = self.server.workspace.text_documents.get(_key(uri))
        return document.version if document is not None else doc.version

    async def _fix_all(self, doc: OpenDocument, uri: str, text: str,
                       lines: Lines) -> types.CodeAction | None:
        if not await self.lint(doc) or doc.result is None or doc.linted is None:
            return None
        if doc.linted.source.text != text:
            return None
        selection, result = self.settings.selection, doc.result
        _, outcome = await asyncio.wrap_future(self._thread.submit(
            lambda: self._run(selection).fix(result, False)))
        if outcome is None or outcome.parse_error is not None or outcome.new_text == text:
            return None
        return actions.fix_all(uri, text, outcome.new_text, lines, outcome.fixed)

    # -- probe on save ----------------------------------------------------------------

    def start_probe(self, doc: OpenDocument) -> None:
        if doc.path is None:
            return
        if doc.probe is not None and not doc.probe.done():
            doc.probe.cancel()  # the next save replaces a probe still running
        snapshot = self.snapshot(doc)
        if snapshot is None:
            return
        doc.probe = asyncio.get_running_loop().create_task(self._probe_guarded(doc, snapshot))

    async def _probe_guarded(self, doc: OpenDocument, snapshot: Snapshot) -> None:
        try:
            await self._probe(doc, snapshot)
        except Exception:  # noqa: BLE001 - e.g. the worker cannot start: say so, keep serving
            self._internal_error(doc)

    async def _probe(self, doc: OpenDocument, snapshot: Snapshot) -> None:
        self.log(f"torchlint: probing {doc.display}")
        notebook = self.server.workspace.get_notebook_document(notebook_uri=doc.uri) \
            if doc.notebook else None
        outcome = await self.probes.run(
            probe_request(doc, snapshot, self.settings.selection, notebook))
        if outcome.status == "unavailable":
            self.show_once(f"torchlint: probe on save is unavailable ({outcome.message}); "
                           "install the probe with pip install 'torchlint[probe]'",
                           types.MessageType.Warning)
            return
        if outcome.status != "ok":
            self.log(f"torchlint: probe of {doc.display} failed: {outcome.message}",
                     types.MessageType.Error)
            return
        doc.verdicts = outcome.verdicts(snapshot.source.text)
        self.log(f"torchlint: probe of {doc.display}: {doc.verdicts.summary()}")
        # Shown now only if the diagnostics on screen are for the probed text and no
        # edit came since; else the next lint shows them (or they lapsed with the edit).
        # Republishing an older version would take the editor back in time.
        if self.documents.get(_key(doc.uri)) is doc and doc.current \
                and doc.linted.source.text == snapshot.source.text:
            self.show(doc)
            if not self.push:
                self._request_refresh()


#: What the warm-up lints: a model, a training loop and an evaluation, so that
#: the rules' facts (modes, losses, loaders, steps) are all computed once.
_WARM_SCRIPT = """import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.utils.data import DataLoader


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 2)
        self.drop = nn.Dropout(0.1)

    def forward(self, x):
        return F.log_softmax(self.drop(self.fc(x)), dim=1)


def train(model, loader, optimizer):
    model.train()
    for x, y in loader:
        optimizer.zero_grad()
        loss = F.nll_loss(model(x), y)
        loss.backward()
        optimizer.step()


def evaluate(model, loader):
    model.eval()
    with torch.no_grad():
        return sum(F.nll_loss(model(x), y).item() for x, y in loader)
"""


def _warm_lint() -> None:
    """A lint in a throwaway project (nothing of it stays in the session's);
    then what the server holds is frozen out of later collections."""
    from torchlint.config import ConfigFinder
    from torchlint.source import SourceFile

    try:
        run = Run(configs=ConfigFinder(), selection=Selection(select=("ALL",)), project=Project())
        run.lint(SourceFile(display="<warm-up>", text=_WARM_SCRIPT))
    except Exception:  # noqa: BLE001 - a warm-up must never stop the server
        pass
    heap.collect_and_freeze()


def _differs_from_disk(path: Path, text: str) -> bool:
    try:
        return path.read_text(encoding="utf-8") != text
    except (OSError, UnicodeDecodeError):
        return True


def _contains(area: types.Range, position: types.Position) -> bool:
    start, end = area.start, area.end
    after_start = (position.line, position.character) >= (start.line, start.character)
    before_end = (position.line, position.character) <= (end.line, end.character)
    return after_start and before_end


def _rss_kib() -> int | None:
    """This process's resident memory (Linux), None elsewhere."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None
