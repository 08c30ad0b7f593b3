"""A lint run over many files: rule selection per file, fixing, and results.

The CLI and the language server both come through here, so they give the
same findings for the same text and configuration. Nothing here prints: a
file that cannot be read, a fix that cannot be written or an internal error
comes back as a one-line message.
"""

from __future__ import annotations

import gc
import os
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Generator, NamedTuple

from torchlint import fixes
from torchlint.config import Config, ConfigFinder
from torchlint.dependencies import Record
from torchlint.findings import FileResult, Finding
from torchlint.memory import LARGE_FILE_CHARS, release_to_os
from torchlint.registry import RuleSet
from torchlint.semantic.imports import RunFiles
from torchlint.source import SourceError, SourceFile, read_source

if TYPE_CHECKING:
    from torchlint.cache import Cache
    from torchlint.files import Target
    from torchlint.semantic.project import Project

# The engine, the semantic layer and libcst are imported when a file is linted,
# never before: a run whose every file comes from the cache needs none of them
# (they are most of its time).

MAX_FIX_PASSES = 10
#: A worker costs about 50 ms of CPU in all (fork, the first file's warm-up, the
#: local modules its files import parsed again) and a typical training script
#: takes 15-30 ms to lint, so the pool pays off from about four files per worker.
POOL_MIN_FILES_PER_JOB = 4
#: Set to show the traceback of an internal error instead of a one-line message.
DEBUG_ENV = "TORCHLINT_DEBUG"
# Allocations between collections of the youngest generation during a run
# (CPython's default: 700). Parsed trees are millions of small objects that live
# for a whole file, and the project keeps dozens of modules' trees: at the default,
# the collector scanned all of them in a full collection every dozen files or so,
# about a third of a run's time (0.2 s each on torch.nn). Linting makes little
# cyclic garbage; full collections still come as the heap grows (CPython collects
# the oldest generation once it has grown by a quarter), which bounds memory.
GC_YOUNG_THRESHOLD = 10_000


def debugging() -> bool:
    return bool(os.environ.get(DEBUG_ENV))


def describe_crash(err: BaseException) -> str:
    """``ValueError: message (at walker.py:120)``: enough to report a bug."""
    frame = err.__traceback__
    while frame is not None and frame.tb_next is not None:  # the innermost frame, without
        frame = frame.tb_next  # formatting what may be a very deep stack (RecursionError)
    where = f" (at {Path(frame.tb_frame.f_code.co_filename).name}:{frame.tb_lineno})" if frame else ""
    return f"{type(err).__name__}: {str(err)[:200]}{where}"


# Records here are NamedTuples: a frozen dataclass costs ~1.5 ms to define
# (it compiles its generated methods), and startup is budgeted (bench/startup.py).


class Selection(NamedTuple):
    """Rule choices from the command line (None: not given, use the config)."""

    select: tuple[str, ...] | None = None
    ignore: tuple[str, ...] = ()
    extend_select: tuple[str, ...] = ()

    def rules_for(self, config: Config, file: Path | None, display: str,
                  known: RuleSet | None = None) -> RuleSet:
        """The rules for `file`, chosen from `known` (default: every rule, imported)."""
        select = self.select if self.select is not None else config.select
        ignore = (*config.ignore, *self.ignore, *config.ignored_for(file, display))
        extend = (*config.extend_select, *self.extend_select)
        return _selected(known if known is not None else RuleSet.all(), select, ignore, extend)


@lru_cache(maxsize=64)
def _selected(rules: RuleSet, select: tuple[str, ...] | None, ignore: tuple[str, ...],
              extend: tuple[str, ...]) -> RuleSet:
    """The same choice for every file of a run, made once (and the same
    RuleSet object, so the cache can key on it cheaply)."""
    return rules.select(list(select) if select is not None else None, list(ignore), list(extend))


class Linted(NamedTuple):
    """One file's lint, without its source: what a worker process sends back."""

    findings: list[Finding]
    errors: list[str]
    dependencies: tuple[Path, ...] = ()
    record: Record | None = None  # for the cache; None: not recorded
    modules_parsed: int = 0  # local modules the project read for this file


class Stats(NamedTuple):
    """How a run got its results ($TORCHLINT_DEBUG_STATS prints it)."""

    files: int = 0
    from_cache: int = 0
    linted: int = 0
    processes: int = 1  # that linted them: 1 in this process, else the workers
    modules_parsed: int = 0  # local modules read and parsed while linting

    def __str__(self) -> str:
        return (f"{self.files} file{'s' if self.files != 1 else ''}: "
                f"{self.from_cache} from the cache, {self.linted} linted "
                f"in {self.processes} process{'es' if self.processes != 1 else ''}; "
                f"{self.modules_parsed} local modules parsed")


class FixOutcome(NamedTuple):
    old_text: str
    new_text: str
    fixed: int  # findings fixed
    parse_error: str | None = None  # the fixed text did not parse: nothing written


class Run:
    """One lint run: the configurations, the command line's rule choices, and
    the project index that every file of the run shares."""

    def __init__(self, configs: ConfigFinder, selection: Selection | None = None,
                 project: Project | None = None) -> None:
        self.configs = configs
        self.selection = selection if selection is not None else Selection()
        self._project = project
        self._run_files: RunFiles | None = None

    @property
    def project(self) -> Project:
        """The project index, made on first use (a fully cached run makes none)."""
        if self._project is None:
            from torchlint.semantic.project import Project

            self._project = Project(run_files=self._run_files)
        return self._project

    @project.setter
    def project(self, project: Project) -> None:
        self._project = project

    def lint(self, source: SourceFile, *, from_disk: bool = False) -> FileResult:
        """Lint one file. A crash of the engine itself (not of one rule, which
        the engine reports) becomes an error of this file; the run goes on.
        `from_disk`: the text was just read from the file (not an editor's or
        a fix's), so files importing it may reuse its parse."""
        from torchlint.engine import lint_source

        config = self.configs.for_file(source.path)
        rules = self.selection.rules_for(config, source.path, source.display)
        try:
            # One file alone (the editor's lint, the API's) collects as a run does: at
            # the default threshold, a 1,000-line file's tree is promoted to the oldest
            # generation during its lint, and every other lint paid a full collection.
            with fewer_collections():
                return lint_source(source, rules, self.project, from_disk=from_disk)
        except Exception as err:  # noqa: BLE001 - one file's crash must not end the run
            if debugging():
                raise
            return FileResult(display=source.display, source=source, errors=[
                f"{source.display}: internal error while linting: {describe_crash(err)}; "
                "please report it (set TORCHLINT_DEBUG=1 for the traceback)"])

    def lint_targets(self, targets: list[Target], *, jobs: int = 1, cache: Cache | None = None,
                     progress: Callable[[int], None] | None = None
                     ) -> tuple[list[FileResult], list[str], Stats]:
        """Lint every target, from the cache where it still holds and in `jobs`
        processes when there are enough files. The results come in the order
        of `targets` whatever order the workers finish in, so the output is the
        serial run's; the errors are those of files that could not be read.
        `progress` is told how many files are done after each one."""
        with fewer_collections():
            return self._lint_targets(targets, jobs=jobs, cache=cache, progress=progress)

    def _lint_targets(self, targets: list[Target], *, jobs: int, cache: Cache | None,
                      progress: Callable[[int], None] | None
                      ) -> tuple[list[FileResult], list[str], Stats]:
        sources: list[SourceFile] = []
        errors: list[str] = []
        for target in targets:
            try:
                sources.append(read_source(target.path, target.display))
            except SourceError as err:
                errors.append(str(err))
        # Where the callers of a module's functions are looked for: this run's files.
        run_files = RunFiles.of((s.path, s.text) for s in sources if s.path is not None and not s.is_notebook)
        self._run_files = run_files
        if self._project is not None:
            self._project.run_files = run_files
        if cache is not None:
            cache.use_run(run_files)
        results: list[FileResult | None] = [None] * len(sources)
        keys: list[str] = [""] * len(sources)
        misses: list[int] = []
        for index, source in enumerate(sources):
            if cache is not None:
                config = self.configs.for_file(source.path)
                keys[index] = cache.key(source, config, self.selection.rules_for(
                    config, source.path, source.display, known=cache.rules))
                results[index] = cache.load(source, keys[index])
            if results[index] is None:
                misses.append(index)
        parsed = 0
        processes = self._processes(len(misses), jobs)
        if processes == 1:
            # Large files first, largest first: their parse peaks at many times what
            # they keep, and it fits best before the other files' modules fill the cache.
            # (Not in a pool: its workers would all parse their large files at once.)
            misses.sort(key=lambda i: -len(sources[i].text) if len(sources[i].text) >= LARGE_FILE_CHARS else 0)
        outcomes = self._lint_sources([sources[i] for i in misses], processes,
                                      recording=cache is not None, run_files=run_files)
        done = 0  # files linted so far, for `progress`
        try:
            for position, outcome in outcomes:
                index = misses[position]
                source = sources[index]
                result = results[index] = FileResult(
                    display=source.display, source=source, findings=outcome.findings,
                    errors=outcome.errors, dependencies=outcome.dependencies)
                parsed += outcome.modules_parsed
                if cache is not None and outcome.record is not None:
                    cache.save(source, keys[index], result, outcome.record)
                if progress is not None:
                    done += 1
                    progress(len(sources) - len(misses) + done)
        finally:
            outcomes.close()  # on Ctrl-C: the pool's workers are killed now, not at exit
        stats = Stats(files=len(sources), from_cache=len(sources) - len(misses), linted=len(misses),
                      processes=processes, modules_parsed=parsed)
        return [result for result in results if result is not None], errors, stats

    @staticmethod
    def _processes(files: int, jobs: int) -> int:
        """Worker processes for `files` files: none (1, this one) unless each
        worker gets enough files to repay starting it."""
        return jobs if jobs > 1 and files >= POOL_MIN_FILES_PER_JOB * jobs else 1

    def _lint_sources(self, sources: list[SourceFile], processes: int, *, recording: bool,
                      run_files: RunFiles | None = None) -> Generator[tuple[int, Linted], None, None]:
        """(position in `sources`, outcome) of each file, in any order."""
        if processes > 1:
            from torchlint.parallel import Job, lint_in_pool  # multiprocessing: only when used

            return lint_in_pool(sources, Job(self.configs, self.selection, recording, run_files), processes)
        if recording and sources:
            from torchlint.recording import RecordingProject

            if not isinstance(self._project, RecordingProject):
                self.project = RecordingProject(run_files=run_files)
        return ((index, lint_recorded(self, source)) for index, source in enumerate(sources))

    def fix(self, result: FileResult, unsafe: bool) -> tuple[FileResult, FixOutcome | None]:
        """Apply fixes until none is left (each pass re-lints the fixed text).
        Returns the final result and what changed; the text is not written."""
        source = result.source
        if source is None or source.is_notebook or result.errors:
            return result, None  # a file whose lint crashed is not rewritten
        from torchlint.parsing import parse_module  # guarded against libcst's stack overflow

        original = source.text
        text = original
        fixed = 0
        for _ in range(MAX_FIX_PASSES):
            if not any(fixes.applicable(f, unsafe) for f in result.findings):
                break
            new_text, count = fixes.apply_fixes(text, result.findings, unsafe)
            if count == 0 or new_text == text:
                break
            try:
                parse_module(new_text)
            except Exception as err:  # noqa: BLE001 - never write code that does not parse
                first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
                return result, FixOutcome(original, original, 0, parse_error=first)
            text = new_text
            fixed += count
            source = SourceFile(display=source.display, text=text, path=source.path,
                                encoding=source.encoding, bom=source.bom)
            result = self.lint(source)
        if fixed == 0:
            return result, None
        return result, FixOutcome(original, text, fixed)


@contextmanager
def fewer_collections() -> Generator[None, None, None]:
    """Run the cycle collector's youngest generation less often (see
    GC_YOUNG_THRESHOLD) for the duration; pool workers forked inside inherit it."""
    previous = gc.get_threshold()
    gc.set_threshold(max(previous[0], GC_YOUNG_THRESHOLD), *previous[1:])
    try:
        yield
    finally:
        gc.set_threshold(*previous)


def lint_recorded(run: Run, source: SourceFile) -> Linted:
    """Lint one file, noting what its findings depend on when the run's project
    records it (the files linted for the cache)."""
    from torchlint.recording import RecordingProject

    project = run.project
    recording = isinstance(project, RecordingProject)
    if recording:
        project.begin()
    before = project.files_read
    result = run.lint(source, from_disk=True)  # the run's targets, read from disk
    if len(source.text) >= LARGE_FILE_CHARS:
        release_to_os()  # its parse's peak, freed but still resident
    record = project.record() if recording and not result.errors else None
    return Linted(result.findings, result.errors, result.dependencies, record,
                  project.files_read - before)


def crash_outcome(source: SourceFile, err: BaseException) -> Linted:
    """A failure in a worker process around a file (TORCHLINT_DEBUG makes the
    engine raise there): the traceback cannot reach the terminal otherwise."""
    message = (f"{source.display}: internal error while linting: {describe_crash(err)}; "
               "please report it (set TORCHLINT_DEBUG=1 for the traceback)")
    if debugging():
        import traceback

        message += "\n" + "".join(traceback.format_exception(err)).rstrip()
    return Linted([], [message])


def died_outcome(source: SourceFile, how: str) -> Linted:
    """The worker process linting this file died (a crash in native code, the
    kernel's out-of-memory killer): the file gets the error, the run goes on."""
    return Linted([], [f"{source.display}: internal error: the process linting this file {how}; "
                       "please report it (--jobs 1 lints in one process)"])


def write_fixed(source: SourceFile, text: str) -> str | None:
    """Write the fixed `text` over the file, atomically, in its own encoding.
    Returns an error message instead of raising."""
    assert source.path is not None
    try:
        data = source.encode(text)
    except UnicodeEncodeError as err:
        return (f"{source.display}: fixes not written: the fixed code holds "
                f"{err.object[err.start:err.end]!r}, which {source.encoding} cannot encode")
    try:
        fixes.write_atomically(source.path, data)
    except OSError as err:
        return f"{source.display}: fixes not written ({err.strerror or err})"
    return None
