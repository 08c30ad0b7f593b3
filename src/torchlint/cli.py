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
@click.option("--format", "output_format", type=click.Choice(FORMATS), default="text", show_default=True)
@click.option("--exit-zero", is_flag=True, help="Exit 0 even when there are findings.")
@click.option("--fix", "apply_fix", is_flag=True, help="Apply safe fixes.")
@click.option("--unsafe-fixes", is_flag=True, help="With --fix or --diff, also apply unsafe fixes.")
@click.option("--diff", is_flag=True, help="Print fixes as a unified diff; write nothing.")
@click.option("--config", "config_path", type=click.Path(), help="Use this pyproject.toml for every file.")
@click.option("--show-source", is_flag=True, help="Print the source line under each finding.")
@click.option("--statistics", is_flag=True, help="Print a count per rule.")
@click.option("--stdin-filename", help="The path to report (and configure) standard input as.")
@click.option("--probe/--no-probe", "probe", default=None,
              help="Confirm findings by running the model in a sandbox (needs torch).")
@click.option("--quiet", "-q", is_flag=True, help="Print findings only, no summary line.")
@click.option("--show-files", is_flag=True, help="List the files that would be linted, and stop.")
@click.option("--show-settings", is_flag=True,
              help="Print the settings and rules each file would be linted with (JSON), and stop.")
@click.option("--jobs", "-j", type=click.IntRange(min=1), default=None,
              help="Lint in this many processes (default: one per core; 1: in this process).")
@click.option("--no-cache", is_flag=True, envvar=_NO_CACHE_ENV,
              help=f"Neither read nor write {_CACHE_DIR}/ (also ${_NO_CACHE_ENV}=1).")
def check(paths: tuple[str, ...], select: tuple[str, ...], ignore: tuple[str, ...],
          extend_select: tuple[str, ...], output_format: str, exit_zero: bool, apply_fix: bool,
          unsafe_fixes: bool, diff: bool, config_path: str | None, show_source: bool,
          statistics: bool, stdin_filename: str | None, probe: bool | None, quiet: bool,
          show_files: bool, show_settings: bool, jobs: int | None, no_cache: bool) -> NoReturn:
    """Lint PATHS (files or folders; - for standard input)."""
    from torchlint.config import ConfigError, ConfigFinder
    from torchlint.runner import Run, Selection

    rules = _load_rules()
    selection = Selection(
        select=_split(select) if select else None,
        ignore=_split(ignore),
        extend_select=_split(extend_select),
    )
    _check_selectors(rules, {"--select": selection.select or (), "--ignore": selection.ignore,
                             "--extend-select": selection.extend_select})
    if not paths:
        paths = ("-",) if stdin_filename else (".",)
    try:
        configs = ConfigFinder(Path(config_path) if config_path else None)
        run = Run(configs=configs, selection=selection)
        if show_files or show_settings:
            _show(run, paths, settings=show_settings)
        # --fix rewrites files and --diff promises to write nothing: no cache for either.
        use_cache = not (no_cache or apply_fix or diff)
        results, errors, stdin = _lint_all(run, paths, stdin_filename, jobs=jobs or _cores(),
                                           use_cache=use_cache, rules=rules)
    except ConfigError as err:
        _fail(str(err))

    fixed_total = 0
    if apply_fix or diff:
        results, fixed_total, fix_errors = _apply_fixes(
            run, results, unsafe_fixes, write=apply_fix and not diff, stdin=stdin)
        errors.extend(fix_errors)

    use_probe = probe if probe is not None else any(
        configs.for_file(r.source.path if r.source else None).probe.enabled for r in results)
    if use_probe:
        results = _probe(results, configs)

    errors.extend(message for result in results for message in result.errors)
    findings = _report(results, rules, errors, fixed_total, output_format=output_format,
                       show_source=show_source, statistics=statistics, quiet=quiet,
                       unsafe_fixes=unsafe_fixes, diff=diff,
                       to_stderr=stdin is not None and apply_fix and not diff)
    for message in errors:
        click.echo(f"torchlint: error: {message}", err=True)
    if errors:
        sys.exit(EXIT_ERROR)
    sys.exit(EXIT_FINDINGS if findings and not exit_zero else EXIT_CLEAN)


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
              use_cache: bool, rules: RuleSet) -> tuple[list[FileResult], list[str], _Stdin | None]:
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
        from torchlint.config import ConfigError

        # The project root: the folder of the pyproject.toml that configures the
        # current folder (or --config's), else the current folder, as ruff does.
        try:
            root = run.configs.for_file(None).root
        except ConfigError:  # a broken pyproject.toml that none of the linted files uses
            root = Path.cwd()
        cache = Cache(root, rules)
    linted, unreadable, stats = run.lint_targets(found.targets, jobs=jobs, cache=cache)
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


def _apply_fixes(run: Run, results: list[FileResult], unsafe: bool, *, write: bool,
                 stdin: _Stdin | None) -> tuple[list[FileResult], int, list[str]]:
    """--fix writes each fixed file (standard input: prints it); --diff prints
    the diffs. Returns the results after fixing, the count fixed, and errors."""
    from torchlint import fixes
    from torchlint.runner import write_fixed

    fixed_results: list[FileResult] = []
    errors: list[str] = []
    total = 0
    for result in results:
        is_stdin = stdin is not None and result is stdin.result
        final, outcome = run.fix(result, unsafe)
        if outcome is None or outcome.parse_error is not None:
            if outcome is not None:
                errors.append(f"{result.display}: fixes not applied, the fixed code would not "
                              f"parse ({outcome.parse_error}); please report it")
            if is_stdin and write:  # nothing to fix: the input goes back as it came
                _echo_bytes(stdin.data)
            fixed_results.append(result)
            continue
        source = result.source
        assert source is not None
        if not write:
            click.echo(fixes.unified_diff(outcome.old_text, outcome.new_text, result.display), nl=False)
            total += outcome.fixed
            fixed_results.append(result)
        elif is_stdin:
            try:
                _echo_bytes(source.encode(outcome.new_text))
            except UnicodeEncodeError as err:
                errors.append(f"{result.display}: fixes not applied: the fixed code holds "
                              f"{err.object[err.start:err.end]!r}, which {source.encoding} cannot encode")
                _echo_bytes(stdin.data)
                fixed_results.append(result)
                continue
            total += outcome.fixed
            fixed_results.append(final)
        else:
            error = write_fixed(source, outcome.new_text)
            if error is not None:
                errors.append(error)
                fixed_results.append(result)
            else:
                total += outcome.fixed
                fixed_results.append(final)
    return fixed_results, total, errors


def _echo_bytes(data: bytes) -> None:
    """Code for standard output, as bytes: its encoding, BOM and line endings kept."""
    sys.stdout.buffer.write(data)
    sys.stdout.buffer.flush()


def _probe(results: list[FileResult], configs: ConfigFinder) -> list[FileResult]:
    try:
        from torchlint.probe.launcher import probe_results  # torch is imported only there
    except ImportError as err:
        _fail(f"the runtime probe is not available in this installation ({err})")
    return probe_results(results, configs, progress=sys.stderr.isatty())


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}" + ("" if number == 1 else "s")


def _report(results: list[FileResult], rules: RuleSet, errors: list[str], fixed: int, *,
            output_format: str, show_source: bool, statistics: bool, quiet: bool,
            unsafe_fixes: bool, diff: bool, to_stderr: bool) -> list[Finding]:
    """Print the findings; returns them."""
    from torchlint.findings import Finding
    from torchlint.reporters import Report, render

    findings = sorted((f for r in results for f in r.findings), key=Finding.sort_key)
    if diff:  # the diffs are the output; the count goes to standard error
        if not quiet:
            click.echo(f"Would fix {_count(fixed, 'finding')} "
                       f"(of {_count(len(findings), 'finding')} in {_count(len(results), 'file')}).",
                       err=True)
        return findings
    if not results and errors and output_format == "text":
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
        show_source=show_source,
        statistics=statistics,
        color=output_format == "text" and stream.isatty() and "NO_COLOR" not in os.environ,
        unsafe_fixes=unsafe_fixes,
    )
    output = render(output_format, report)
    if quiet and output_format == "text":
        output = "".join(line + "\n" for line in output.splitlines()[:-1])
    click.echo(output, nl=False, err=to_stderr)
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


@cli.command()
def lsp() -> None:
    """Run the language server on standard input and output."""
    try:
        from torchlint.lsp.server import serve
    except ImportError as err:
        _fail(f"the language server needs the lsp extra: pip install 'torchlint[lsp]' ({err})")
    serve()


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
    sys.exit(code)


if __name__ == "__main__":  # pragma: no cover
    main()
