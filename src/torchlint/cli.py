"""The ``torchlint`` command.

    torchlint [OPTIONS] PATHS...        lint files and folders (``check`` is implied)
    torchlint check [OPTIONS] PATHS...  the same, spelled out
    torchlint rule CODE|NAME|--all      a rule's documentation
    torchlint lsp                       the language server on stdio

A path ``-`` lints standard input; ``--stdin-filename`` names it for the
configuration and the output. With ``--fix``, the fixed code of standard
input goes to standard output and the findings to standard error.

Exit codes, and what gives each:

0    no findings; findings with ``--exit-zero``; ``--fix`` that fixed every
     finding; ``rule``, ``--version``, ``--help``.
1    findings. A file that does not parse is a finding (TL001 syntax-error) and
     the other files are still linted. An empty file is fine (0).
2    the run is not complete or not trustworthy:
     usage (an unknown option; ``--select``, ``--ignore`` or ``--extend-select``
     with a code or prefix that names no rule; ``rule`` with an unknown code);
     configuration (invalid TOML; an unknown key, a value of the wrong type or
     a code that names no rule in ``[tool.torchlint]``: the message names the
     file, the key and what is allowed; a ``--config`` file that cannot be read);
     input that cannot be read (a missing path, a broken symbolic link or a link
     loop, permission denied, a binary file, a file that is not UTF-8 and
     declares no other PEP 263 encoding, a file over 8 MiB, a notebook that is
     not valid JSON);
     internal errors (a rule plugin package that fails to import, a rule that
     crashed, reported with its code; a fix whose result would not parse or
     cannot be written, so nothing is written; anything else unexpected).
     The findings of every file that could be linted are printed all the same.
130  interrupted (Ctrl-C).

Nothing prints a Python traceback: each problem is one line on standard error,
``torchlint: error: <file>: <what is wrong>``. Output cut short by its reader
(``torchlint . | head -1``) ends quietly with exit 1. Set TORCHLINT_DEBUG=1 to
see the traceback of an internal error.
"""

from __future__ import annotations

import gc
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple, NoReturn

import click

from torchlint import __version__
from torchlint.reporters import FORMATS

if TYPE_CHECKING:
    from torchlint.config import ConfigFinder
    from torchlint.engine import FileResult
    from torchlint.findings import Finding
    from torchlint.registry import RuleSet
    from torchlint.runner import Run

EXIT_CLEAN, EXIT_FINDINGS, EXIT_ERROR, EXIT_INTERRUPTED = 0, 1, 2, 130
_PLUGINS_ENV = "TORCHLINT_PLUGINS"
_NO_CACHE_ENV = "TORCHLINT_NO_CACHE"
#: Set to print, on standard error, how many files came from the cache and how
#: many were parsed (the tests use it to show that a second run parses nothing).
_STATS_ENV = "TORCHLINT_DEBUG_STATS"
_CACHE_DIR = ".torchlint_cache"  # cache.CACHE_DIR, without importing it for --help


class _DefaultToCheck(click.Group):
    """Route ``torchlint train.py`` to ``torchlint check train.py``."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if args and args[0] not in self.commands and args[0] not in ("--help", "-h", "--version"):
            args = ["check", *args]
        return super().parse_args(ctx, args)


@click.group(cls=_DefaultToCheck, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", prog_name="torchlint")
def cli() -> None:
    """Find the bugs that silently ruin PyTorch training."""


def _fail(message: str) -> NoReturn:
    click.echo(f"torchlint: error: {message}", err=True)
    sys.exit(EXIT_ERROR)


def _split(values: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(part.strip() for value in values for part in value.split(",") if part.strip())


def _load_rules() -> RuleSet:
    """Every rule, plugins included; a plugin that fails to import is a clear
    error (exit 2), not a traceback."""
    from torchlint.registry import RuleSet
    from torchlint.runner import debugging, describe_crash

    try:
        return RuleSet.all()
    except Exception as err:  # noqa: BLE001 - ImportError, or whatever the plugin raised
        if debugging():
            raise
        plugins = os.environ.get(_PLUGINS_ENV, "").strip()
        origin = f"the rule plugins in ${_PLUGINS_ENV} ({plugins})" if plugins else "the rules"
        if isinstance(err, ModuleNotFoundError):  # where importlib noticed is no help
            _fail(f"cannot load {origin}: no module named {err.name!r} on the Python path")
        _fail(f"cannot load {origin}: {describe_crash(err)}")


def _known_rules(opts: _Options, configs: ConfigFinder | None) -> RuleSet:
    """Every rule: from the cache's catalog when it has one for the code
    installed now (a run whose files all come from the cache then imports no
    rule), else loaded. SARIF describes each rule, so it always loads them."""
    if configs is not None and _uses_cache(opts) and opts.output_format != "sarif":
        from torchlint.cache import rule_catalog

        catalog = rule_catalog(_cache_root(configs))
        if catalog is not None:
            return catalog
    return _load_rules()


def _uses_cache(opts: _Options) -> bool:
    # --fix and --add-noqa rewrite files and --diff promises to write nothing: no cache.
    return not (opts.no_cache or opts.apply_fix or opts.diff or opts.add_noqa)


def _cache_root(configs: ConfigFinder) -> Path:
    """The project root: the folder of the pyproject.toml that configures the
    current folder (or --config's), else the current folder, as ruff does."""
    from torchlint.config import ConfigError

    try:
        return configs.for_file(None).root
    except ConfigError:  # a broken pyproject.toml that none of the linted files uses
        return Path.cwd()


def _check_selectors(rules: RuleSet, options: dict[str, tuple[str, ...]]) -> None:
    from torchlint.registry import UnknownRuleError

    for option, values in options.items():
        for value in values:
            try:
                rules.matching(value)
            except UnknownRuleError as err:
                _fail(f"{option}: {err}")


@cli.command()
@click.argument("paths", nargs=-1, type=click.Path())
@click.option("--select", multiple=True, help="Only these codes or prefixes (TL101, TL1, ALL).")
@click.option("--ignore", multiple=True, help="Skip these codes or prefixes.")
@click.option("--extend-select", multiple=True, help="Add these codes or prefixes to the selection.")
@click.option("--output-format", "--format", "output_format", type=click.Choice(FORMATS),
              default="full", show_default=True,
              help="full: title, source and help per finding (text is its old name); "
                   "concise: one line per finding; json, sarif, github, lsp.")
@click.option("--output-file", "-o", type=click.Path(dir_okay=False),
              help="Write the findings to this file instead of standard output.")
@click.option("--exit-zero", is_flag=True, help="Exit 0 even when there are findings.")
@click.option("--fix", "apply_fix", is_flag=True, help="Apply safe fixes.")
@click.option("--unsafe-fixes", is_flag=True, help="With --fix or --diff, also apply unsafe fixes.")
@click.option("--show-fixes", is_flag=True, help="With --fix, list what was fixed, per file and rule.")
@click.option("--diff", is_flag=True,
              help="Print fixes as a unified diff; write nothing (exit 1 when there is a diff).")
@click.option("--add-noqa", is_flag=True,
              help="Add `# noqa: CODE` to the line of every finding, so the next run is clean.")
@click.option("--watch", "-w", is_flag=True, help="Lint again whenever a linted file changes.")
@click.option("--config", "config_path", type=click.Path(), help="Use this pyproject.toml for every file.")
@click.option("--show-source", is_flag=True, hidden=True,
              help="Kept for old scripts: the full format always shows the source.")
@click.option("--statistics", is_flag=True,
              help="Print only a count per rule (count, code, fixable, name).")
@click.option("--stdin-filename", help="The path to report (and configure) standard input as.")
@click.option("--probe/--no-probe", "probe", default=None,
              help="Confirm findings by running the model in a sandbox (needs torch).")
@click.option("--color", type=click.Choice(["auto", "always", "never"]), default="auto",
              show_default=True,
              help="Color the text formats (auto: on a terminal; NO_COLOR and FORCE_COLOR are read).")
@click.option("--quiet", "-q", is_flag=True, help="Print findings only, no summary line.")
@click.option("--silent", "-s", is_flag=True,
              help="Print nothing but errors; the exit code still tells about findings.")
@click.option("--show-files", is_flag=True, help="List the files that would be linted, and stop.")
@click.option("--show-settings", is_flag=True,
              help="Print the settings and rules each file would be linted with (JSON), and stop.")
@click.option("--jobs", "-j", type=click.IntRange(min=1), default=None,
              help="Lint in this many processes (default: one per core; 1: in this process).")
@click.option("--no-cache", is_flag=True, envvar=_NO_CACHE_ENV,
              help=f"Neither read nor write {_CACHE_DIR}/ (also ${_NO_CACHE_ENV}=1).")
def check(paths: tuple[str, ...], select: tuple[str, ...], ignore: tuple[str, ...],
          extend_select: tuple[str, ...], **options: object) -> NoReturn:
    """Lint PATHS (files or folders; - for standard input)."""
    from torchlint.runner import Selection

    from torchlint.config import ConfigError, ConfigFinder

    opts = _Options(**options)  # type: ignore[arg-type]
    try:
        configs: ConfigFinder | None = ConfigFinder(Path(opts.config_path) if opts.config_path else None)
    except ConfigError:
        configs = None  # reported where the lint reads the configuration
    rules = _known_rules(opts, configs)
    selection = Selection(
        select=_split(select) if select else None,
        ignore=_split(ignore),
        extend_select=_split(extend_select),
    )
    _check_selectors(rules, {"--select": selection.select or (), "--ignore": selection.ignore,
                             "--extend-select": selection.extend_select})
    if not paths:
        paths = ("-",) if opts.stdin_filename else (".",)
    if opts.watch:
        if "-" in paths:
            _fail("--watch cannot watch standard input")
        _watch(paths, rules, selection, opts)
    sys.exit(_check_once(paths, rules, selection, opts, configs))


class _Options(NamedTuple):
    """The options of ``check`` beyond the paths and the rule selection."""

    output_format: str
    output_file: str | None
    exit_zero: bool
    apply_fix: bool
    unsafe_fixes: bool
    show_fixes: bool
    diff: bool
    add_noqa: bool
    watch: bool
    config_path: str | None
    show_source: bool
    statistics: bool
    stdin_filename: str | None
    probe: bool | None
    color: str
    quiet: bool
    silent: bool
    show_files: bool
    show_settings: bool
    jobs: int | None
    no_cache: bool


def _check_once(paths: tuple[str, ...], rules: RuleSet, selection: object, opts: _Options,
                configs: ConfigFinder | None = None) -> int:
    """One lint of `paths`: prints what the options ask for and returns the exit code.
    `configs`: the configurations read already (None: read them now)."""
    from torchlint.config import ConfigError, ConfigFinder
    from torchlint.runner import Run

    try:
        if configs is None:
            configs = ConfigFinder(Path(opts.config_path) if opts.config_path else None)
        run = Run(configs=configs, selection=selection)  # type: ignore[arg-type]
        if opts.show_files or opts.show_settings:
            _show(run, paths, settings=opts.show_settings)
        results, errors, stdin = _lint_all(run, paths, opts.stdin_filename,
                                           jobs=opts.jobs or _cores(), use_cache=_uses_cache(opts),
                                           rules=rules, progress=_progress_enabled(opts))
    except ConfigError as err:
        _fail(str(err))

    if opts.add_noqa:
        return _add_noqa(results, errors)

    fixed_total, fixed = 0, []
    if opts.apply_fix or opts.diff:
        results, fixed, fix_errors = _apply_fixes(
            run, results, opts.unsafe_fixes, write=opts.apply_fix and not opts.diff, stdin=stdin,
            silent=opts.silent)
        fixed_total = sum(count for _, _, count in fixed)
        errors.extend(fix_errors)

    use_probe = opts.probe if opts.probe is not None else any(
        configs.for_file(r.source.path if r.source else None).probe.enabled for r in results)
    if use_probe:
        results = _probe(results, configs, progress=_progress_enabled(opts))
    results, failing = _refuted_policy(results, configs)

    errors.extend(message for result in results for message in result.errors)
    findings = _report(results, rules, errors, fixed_total, opts,
                       to_stderr=stdin is not None and opts.apply_fix and not opts.diff)
    if opts.show_fixes and opts.apply_fix and not opts.silent:
        _print_fixed(fixed, stdin is not None and not opts.diff)
    for message in errors:
        click.echo(f"torchlint: error: {message}", err=True)
    if errors:
        return EXIT_ERROR
    if opts.diff:  # as ruff: 1 when there is something to fix, 0 when the diff is empty
        return EXIT_FINDINGS if fixed_total and not opts.exit_zero else EXIT_CLEAN
    return EXIT_FINDINGS if findings and failing and not opts.exit_zero else EXIT_CLEAN


def _progress_enabled(opts: _Options) -> bool:
    """Progress on standard error: only for a person watching a terminal, never
    in CI or when the output is machine-read."""
    if opts.silent or opts.quiet or os.environ.get("CI"):
        return False
    try:
        return sys.stderr.isatty()
    except (AttributeError, ValueError):
        return False


def _use_color(choice: str, stream: object) -> bool:
    """--color always/never decide; auto: NO_COLOR turns it off, FORCE_COLOR on
    (https://no-color.org, https://force-color.org), else a terminal."""
    if choice != "auto":
        return choice == "always"
    if os.environ.get("NO_COLOR"):
        return False
    if os.environ.get("FORCE_COLOR"):
        return True
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())


def _watch(paths: tuple[str, ...], rules: RuleSet, selection: object, opts: _Options) -> NoReturn:
    """Lint, then lint again each time a linted file (or a configuration) changes,
    until Ctrl-C. Unchanged files come from the cache."""
    import time

    click.echo("torchlint: watching for changes (Ctrl-C to stop)", err=True)
    seen: dict[str, tuple[int, int]] | None = None
    while True:
        stamps = _stamps(paths, opts)
        if stamps != seen:
            if seen is not None:
                click.echo(f"torchlint: {time.strftime('%H:%M:%S')} change detected, linting again",
                           err=True)
            seen = stamps
            try:
                _check_once(paths, rules, selection, opts)
            except SystemExit:  # a broken configuration: say so and keep watching
                pass
            sys.stdout.flush()
        time.sleep(_WATCH_INTERVAL)


#: Seconds between two looks at the watched files' modification times.
_WATCH_INTERVAL = 0.3


def _stamps(paths: tuple[str, ...], opts: _Options) -> dict[str, tuple[int, int]]:
    """(size, modification time) of every file a run would lint and of the
    configuration files above them."""
    from torchlint.config import ConfigError, ConfigFinder
    from torchlint.files import discover

    stamps: dict[str, tuple[int, int]] = {}
    try:
        targets = discover(list(paths), ConfigFinder(Path(opts.config_path) if opts.config_path else None)).targets
    except ConfigError:
        targets = []
    files = [target.path for target in targets]
    folders = {Path(p).resolve() if Path(p).is_dir() else Path(p).resolve().parent for p in paths}
    files += [folder / "pyproject.toml" for folder in folders]
    for file in files:
        try:
            stat = os.stat(file)
        except OSError:
            continue
        stamps[str(file)] = (stat.st_size, stat.st_mtime_ns)
    return stamps


class _Stdin(NamedTuple):
    """Standard input as read, and its lint result."""

    data: bytes
    result: FileResult


def _cores() -> int:
    """The cores this process may run on (the default of --jobs)."""
    counted = getattr(os, "process_cpu_count", None)  # Python 3.13
    if counted is not None:
        return counted() or 1
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0)) or 1
    return os.cpu_count() or 1


def _lint_all(run: Run, paths: tuple[str, ...], stdin_filename: str | None, *, jobs: int,
              use_cache: bool, rules: RuleSet, progress: bool = False
              ) -> tuple[list[FileResult], list[str], _Stdin | None]:
    """Every result, the errors of paths that could not be read, and standard
    input when it was linted (never cached: it has no file to key on)."""
    from torchlint.files import discover

    results: list[FileResult] = []
    stdin = _lint_stdin(run, stdin_filename) if "-" in paths else None
    if stdin is not None:
        results.append(stdin.result)
    found = discover([p for p in paths if p != "-"], run.configs)
    errors = list(found.errors)
    cache = None
    if use_cache and found.targets:
        from torchlint.cache import Cache

        cache = Cache(_cache_root(run.configs), rules)
    bar = _LintProgress(len(found.targets)) if progress else None
    try:
        linted, unreadable, stats = run.lint_targets(found.targets, jobs=jobs, cache=cache,
                                                     progress=bar.advance if bar else None)
    finally:
        if bar is not None:
            bar.close()
    results.extend(linted)
    errors.extend(unreadable)
    if os.environ.get(_STATS_ENV):
        click.echo(f"torchlint: stats: {stats}", err=True)
    return results, errors, stdin


def _show(run: Run, paths: tuple[str, ...], *, settings: bool) -> NoReturn:
    """--show-files / --show-settings: what a run would lint, and how."""
    import json

    from torchlint.files import discover

    found = discover([p for p in paths if p != "-"], run.configs)
    if settings:
        entries = []
        for target in found.targets:
            config = run.configs.for_file(target.path)
            rules = run.selection.rules_for(config, target.path, target.display)
            entries.append({"path": target.display, **config.to_json(),
                            "rules": [rule.code for rule in rules.rules]})
        click.echo(json.dumps(entries, indent=2))
    else:
        for target in found.targets:
            click.echo(target.display)
    for message in found.errors:
        click.echo(f"torchlint: error: {message}", err=True)
    sys.exit(EXIT_ERROR if found.errors else EXIT_CLEAN)


def _lint_stdin(run: Run, stdin_filename: str | None) -> _Stdin:
    from torchlint.source import SourceError, SourceFile, decode, read_notebook

    data = sys.stdin.buffer.read()
    display = stdin_filename or "-"
    path = Path(stdin_filename).absolute() if stdin_filename else None
    try:
        if display.endswith(".ipynb"):
            source = read_notebook(data, display, path)
        else:
            text, encoding, bom = decode(data, display)
            source = SourceFile(display=display, text=text, path=path, encoding=encoding, bom=bom)
    except SourceError as err:
        _fail(str(err))
    return _Stdin(data, run.lint(source))


class _LintProgress:
    """``linting 120/800 files`` on standard error, redrawn in place; shown only
    for runs long enough to wonder about (see _PROGRESS_AFTER)."""

    def __init__(self, total: int) -> None:
        import time

        self.total = total
        self.started = time.monotonic()
        self.shown = False

    def advance(self, done: int) -> None:
        import time

        if not self.shown and time.monotonic() - self.started < _PROGRESS_AFTER:
            return
        self.shown = True
        sys.stderr.write(f"\rtorchlint: linting {done}/{self.total} files")
        sys.stderr.flush()

    def close(self) -> None:
        if self.shown:
            sys.stderr.write("\r\033[K")
            sys.stderr.flush()


#: Seconds a lint runs before its progress is shown (a short run stays silent).
_PROGRESS_AFTER = float(os.environ.get("TORCHLINT_PROGRESS_AFTER", "0.5"))


def _apply_fixes(run: Run, results: list[FileResult], unsafe: bool, *, write: bool,
                 stdin: _Stdin | None, silent: bool = False
                 ) -> tuple[list[FileResult], list[tuple[FileResult, FileResult, int]], list[str]]:
    """--fix writes each fixed file (standard input: prints it); --diff prints
    the diffs. Returns the results after fixing, (result before fixing, after,
    count fixed) per fixed file, and errors."""
    from torchlint import fixes
    from torchlint.runner import write_fixed

    fixed_results: list[FileResult] = []
    fixed: list[tuple[FileResult, FileResult, int]] = []
    errors: list[str] = []
    for result in results:
        is_stdin = stdin is not None and result is stdin.result
        source = result.source
        if source is not None and source.is_notebook:
            from torchlint import notebooks

            final, outcome = notebooks.fix(run, result, unsafe, notebook_text=_stdin_text(stdin)
                                           if is_stdin else None)
        else:
            final, outcome = run.fix(result, unsafe)
        if outcome is None or outcome.parse_error is not None:
            if outcome is not None:
                errors.append(f"{result.display}: fixes not applied, the fixed code would not "
                              f"parse ({outcome.parse_error}); please report it")
            if is_stdin and write:  # nothing to fix: the input goes back as it came
                _echo_bytes(stdin.data)
            fixed_results.append(result)
            continue
        assert source is not None
        if not write:
            if not silent:
                if source.is_notebook:
                    from torchlint import notebooks

                    diff = notebooks.unified_diff(source, outcome.new_text, result.display,
                                                  old_notebook_text=outcome.old_text)
                else:
                    diff = fixes.unified_diff(outcome.old_text, outcome.new_text, result.display)
                click.echo(diff, nl=False)
            fixed.append((result, result, outcome.fixed))
            fixed_results.append(result)
        elif is_stdin:
            try:
                _echo_bytes(outcome.new_text.encode(source.encoding) if source.is_notebook
                            else source.encode(outcome.new_text))
            except UnicodeEncodeError as err:
                errors.append(f"{result.display}: fixes not applied: the fixed code holds "
                              f"{err.object[err.start:err.end]!r}, which {source.encoding} cannot encode")
                _echo_bytes(stdin.data)
                fixed_results.append(result)
                continue
            fixed.append((result, final, outcome.fixed))
            fixed_results.append(final)
        else:
            if source.is_notebook:
                from torchlint import notebooks

                error = notebooks.write(source, outcome.new_text)
            else:
                error = write_fixed(source, outcome.new_text)
            if error is not None:
                errors.append(error)
                fixed_results.append(result)
            else:
                fixed.append((result, final, outcome.fixed))
                fixed_results.append(final)
    return fixed_results, fixed, errors


def _stdin_text(stdin: _Stdin | None) -> str | None:
    try:
        return stdin.data.decode("utf-8-sig") if stdin is not None else None
    except UnicodeDecodeError:
        return None


def _print_fixed(fixed: list[tuple[FileResult, FileResult, int]], to_stderr: bool) -> None:
    """--show-fixes: what --fix fixed, per file and rule (as ruff lists it): the
    findings of each rule before fixing less those left after."""
    from collections import Counter

    total = sum(count for _, _, count in fixed)
    if not total:
        click.echo("No fixes applied.", err=to_stderr)
        return
    lines = [f"Fixed {_count(total, 'finding')}:"]
    for before, after, _fixed in fixed:
        gone = Counter((f.code, f.name) for f in before.findings)
        gone.subtract((f.code, f.name) for f in after.findings)
        lines.append(f"- {before.display}:")
        lines.extend(f"    {count} \u00d7 {code} ({name})"
                     for (code, name), count in sorted(gone.items()) if count > 0)
    click.echo("\n".join(lines), err=to_stderr)


def _add_noqa(results: list[FileResult], errors: list[str]) -> int:
    """--add-noqa: silence every finding where it is, so the next run is clean."""
    from torchlint import suppressions
    from torchlint.parsing import parse_module
    from torchlint.runner import write_fixed

    added = 0
    for result in results:
        source = result.source
        if source is None or not result.findings or source.path is None:
            continue
        if source.is_notebook:
            from torchlint import notebooks

            count, error = notebooks.add_noqa(source, result.findings)
            if error is not None:
                errors.append(error)
            added += count
            continue
        wanted: dict[int, set[str]] = {}
        for finding in result.findings:
            wanted.setdefault(finding.line, set()).add(finding.code)
        text, count = suppressions.add_noqa(source.text, wanted)
        if not count:
            continue
        try:
            parse_module(text)
        except Exception:  # noqa: BLE001 - never write code that does not parse
            errors.append(f"{result.display}: noqa comments not added: the file would not parse")
            continue
        error = write_fixed(source, text)
        if error is not None:
            errors.append(error)
        else:
            added += count
    click.echo(f"Added {_count(added, 'noqa directive')}.", err=True)
    for message in errors:
        click.echo(f"torchlint: error: {message}", err=True)
    return EXIT_ERROR if errors else EXIT_CLEAN


def _echo_bytes(data: bytes) -> None:
    """Code for standard output, as bytes: its encoding, BOM and line endings kept."""
    sys.stdout.buffer.write(data)
    sys.stdout.buffer.flush()


def _torch_installed() -> bool:
    import importlib.util

    try:
        return importlib.util.find_spec("torch") is not None
    except (ImportError, ValueError):
        return False


def _probe(results: list[FileResult], configs: ConfigFinder, *, progress: bool) -> list[FileResult]:
    if not any(result.findings for result in results):
        return results
    if not _torch_installed():
        # Once for the run, not as an inconclusive verdict under every finding.
        click.echo("torchlint: the probe needs torch, which is not installed for "
                   f"{sys.executable}; the findings are shown without verdicts", err=True)
        return results
    try:
        from torchlint.probe.launcher import probe_results  # torch is imported only there
    except ImportError as err:
        _fail(f"the runtime probe is not available in this installation ({err})")
    return probe_results(results, configs, progress=progress)


def _refuted_policy(results: list[FileResult], configs: ConfigFinder
                    ) -> tuple[list[FileResult], bool]:
    """Findings the probe refuted, per the file's ``probe.refuted``: "hint" (the
    default) shows them marked refuted without failing the run, "hide" drops
    them, "keep" lets them fail the run as before. Returns the results and
    whether any finding fails the run. mechanism_only is not refuted."""
    from dataclasses import replace

    from torchlint.config import ConfigError

    kept: list[FileResult] = []
    failing = False
    for result in results:
        try:
            policy = configs.for_file(result.source.path if result.source else None).probe.refuted
        except ConfigError:
            policy = "hint"
        findings = []
        for finding in result.findings:
            refuted = finding.probe is not None and finding.probe.verdict == "refuted"
            if refuted and policy == "hide":
                continue
            findings.append(finding)
            failing = failing or not refuted or policy == "keep"
        kept.append(replace(result, findings=findings) if len(findings) != len(result.findings) else result)
    return kept, failing


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}" + ("" if number == 1 else "s")


def _report(results: list[FileResult], rules: RuleSet, errors: list[str], fixed: int,
            opts: _Options, *, to_stderr: bool) -> list[Finding]:
    """Print the findings; returns them."""
    from torchlint.findings import Finding
    from torchlint.reporters import TEXT_FORMATS, Report, render

    findings = sorted((f for r in results for f in r.findings), key=Finding.sort_key)
    if opts.silent:
        return findings
    if opts.diff:  # the diffs are the output; the count goes to standard error
        if not opts.quiet:
            click.echo(f"Would fix {_count(fixed, 'finding')} "
                       f"(of {_count(len(findings), 'finding')} in {_count(len(results), 'file')}).",
                       err=True)
        return findings
    text = opts.output_format in TEXT_FORMATS
    if not results and errors and text:
        return findings  # nothing was linted: the errors say it all
    stream = sys.stderr if to_stderr else sys.stdout
    report = Report(
        findings=findings,
        rules=rules,
        sources={r.display: r.source.text for r in results if r.source is not None},
        files={r.display: r.source for r in results if r.source is not None},
        errors=list(errors),
        files_linted=len(results),
        fixed=fixed,
        show_source=True,
        statistics=opts.statistics,
        color=text and not opts.output_file and _use_color(opts.color, stream),
        unsafe_fixes=opts.unsafe_fixes,
        concise=opts.output_format == "concise",
    )
    output = render(opts.output_format, report)
    if opts.quiet and text and not opts.statistics:
        output = "".join(line + "\n" for line in output.splitlines()[:-1])
    if opts.output_file:
        try:
            Path(opts.output_file).write_text(output, encoding="utf-8")
        except OSError as err:
            _fail(f"{opts.output_file}: cannot write the output ({err.strerror or err})")
    else:
        # click strips colors when the stream is not a terminal: --color always means it.
        click.echo(output, nl=False, err=to_stderr, color=report.color)
    return findings


@cli.command()
@click.argument("code", required=False)
@click.option("--all", "show_all", is_flag=True, help="Every rule's documentation.")
@click.option("--format", "output_format", type=click.Choice(["text", "json"]), default="text")
def rule(code: str | None, show_all: bool, output_format: str) -> None:
    """Show the documentation of rule CODE (TL101 or missing-eval)."""
    from torchlint.registry import UnknownRuleError

    rules = _load_rules()
    if show_all:
        chosen = list(rules.rules)
    elif code:
        try:
            chosen = [rules.lookup(code)]
        except UnknownRuleError as err:
            _fail(f"{err}; `torchlint rule --all` lists every rule")
    else:
        _fail("give a rule code or name, or --all")
    if output_format == "json":
        import json

        click.echo(json.dumps([
            {"code": r.code, "name": r.name, "severity": str(r.severity), "summary": r.summary,
             "default_enabled": r.default_enabled, "docs": r.docs()} for r in chosen
        ], indent=2))
        return
    pages = [f"# {r.code} {r.name} ({r.severity})\n\n{r.summary}\n\n{r.docs()}\n" for r in chosen]
    click.echo("\n".join(pages), nl=False)


@cli.command(name="lsp")
def lsp() -> None:
    """Run the language server on standard input and output (also: server)."""
    try:
        from torchlint.lsp.server import serve
    except ImportError as err:
        _fail(f"the language server needs the lsp extra: pip install 'torchlint[lsp]' ({err})")
    serve()


cli.add_command(lsp, name="server")  # ruff's name for it


# -- the process ----------------------------------------------------------------


def _run(argv: list[str] | None) -> int:
    """Run the command; whatever escapes it becomes an exit code and at most one line."""
    from torchlint.runner import debugging, describe_crash

    try:
        result = cli.main(args=argv, prog_name="torchlint", standalone_mode=False)
        return result if isinstance(result, int) else EXIT_CLEAN
    except SystemExit as done:
        return done.code if isinstance(done.code, int) else EXIT_CLEAN if done.code is None else EXIT_ERROR
    except (click.exceptions.Abort, KeyboardInterrupt):  # click turns Ctrl-C into Abort
        return EXIT_INTERRUPTED
    except click.ClickException as err:  # usage errors: click's message, exit 2
        err.show()
        return err.exit_code
    except BrokenPipeError:
        _silence_stdout()
        return EXIT_FINDINGS
    except Exception as err:  # noqa: BLE001 - the last line of defence against a traceback
        if debugging():
            raise
        click.echo(f"torchlint: internal error: {describe_crash(err)}; please report it "
                   "(set TORCHLINT_DEBUG=1 for the traceback)", err=True)
        return EXIT_ERROR


def _silence_stdout() -> None:
    """The reader of our output went away: send what is left nowhere, so the
    interpreter's final flush does not complain."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass


def main(argv: list[str] | None = None) -> NoReturn:
    """The console script: ``torchlint ...``."""
    code = _run(argv)
    try:
        sys.stdout.flush()
    except BrokenPipeError:
        _silence_stdout()
        code = code or EXIT_FINDINGS
    except (OSError, ValueError):
        pass
    # The process ends here, and what the run built (syntax trees held in cycles
    # with the semantic models) need not be freed object by object: frozen, it is
    # skipped by the interpreter's final collection, which otherwise took 0.6 s
    # after a run over torch.nn. (Output is flushed above; atexit handlers still run.)
    gc.freeze()
    sys.exit(code)


if __name__ == "__main__":  # pragma: no cover
    main()
