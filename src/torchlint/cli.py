"""The ``torchlint`` command.

Exit codes: 0 no findings, 1 findings, 2 usage error, bad configuration,
unreadable input or an internal error. ``torchlint PATHS`` is ``torchlint
check PATHS``.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from torchlint import __version__, fixes
from torchlint.config import ConfigError, ConfigFinder
from torchlint.engine import FileResult
from torchlint.files import discover
from torchlint.findings import Finding
from torchlint.registry import RuleSet, UnknownRuleError
from torchlint.reporters import FORMATS, Report, render
from torchlint.runner import Run, Selection
from torchlint.source import SourceError, SourceFile, decode, read_notebook

EXIT_CLEAN, EXIT_FINDINGS, EXIT_ERROR = 0, 1, 2


class _DefaultToCheck(click.Group):
    """Route ``torchlint train.py`` to ``torchlint check train.py``."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if args and args[0] not in self.commands and args[0] not in ("--help", "-h", "--version"):
            args = ["check", *args]
        return super().parse_args(ctx, args)


@click.group(cls=_DefaultToCheck, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", prog_name="torchlint")
def main() -> None:
    """Find the bugs that silently ruin PyTorch training."""


def _split(values: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(part.strip() for value in values for part in value.split(",") if part.strip())


def _fail(message: str) -> None:
    click.echo(f"torchlint: error: {message}", err=True)
    sys.exit(EXIT_ERROR)


@main.command()
@click.argument("paths", nargs=-1, type=click.Path())
@click.option("--select", multiple=True, help="Only these codes or prefixes (TL101, TL1, ALL).")
@click.option("--ignore", multiple=True, help="Skip these codes or prefixes.")
@click.option("--extend-select", multiple=True, help="Add these codes or prefixes to the selection.")
@click.option("--format", "output_format", type=click.Choice(FORMATS), default="text", show_default=True)
@click.option("--exit-zero", is_flag=True, help="Exit 0 even when there are findings.")
@click.option("--fix", "apply_fix", is_flag=True, help="Apply safe fixes.")
@click.option("--unsafe-fixes", is_flag=True, help="With --fix or --diff, also apply unsafe fixes.")
@click.option("--diff", is_flag=True, help="Print fixes as a unified diff; write nothing.")
@click.option("--config", "config_path", type=click.Path(dir_okay=False), help="Use this pyproject.toml.")
@click.option("--show-source", is_flag=True, help="Print the source line under each finding.")
@click.option("--statistics", is_flag=True, help="Print a count per rule.")
@click.option("--stdin-filename", help="The path to report (and configure) standard input as.")
@click.option("--probe/--no-probe", "probe", default=None,
              help="Confirm findings by running the model in a sandbox (needs torch).")
@click.option("--quiet", "-q", is_flag=True, help="Print findings only, no summary line.")
def check(paths: tuple[str, ...], select: tuple[str, ...], ignore: tuple[str, ...],
          extend_select: tuple[str, ...], output_format: str, exit_zero: bool, apply_fix: bool,
          unsafe_fixes: bool, diff: bool, config_path: str | None, show_source: bool,
          statistics: bool, stdin_filename: str | None, probe: bool | None, quiet: bool) -> None:
    """Lint PATHS (files or folders; - for standard input)."""
    if not paths:
        paths = (".",)
    try:
        configs = ConfigFinder(Path(config_path) if config_path else None)
    except ConfigError as err:
        _fail(str(err))
    selection = Selection(
        select=_split(select) if select else None,
        ignore=_split(ignore),
        extend_select=_split(extend_select),
    )
    try:  # unknown codes on the command line are a usage error before any work
        RuleSet.all().select(list(selection.select) if selection.select else None,
                             list(selection.ignore), list(selection.extend_select))
    except UnknownRuleError as err:
        _fail(str(err))
    run = Run(configs=configs, selection=selection)

    results: list[FileResult] = []
    errors: list[str] = []
    stdin_result: FileResult | None = None
    try:
        if paths == ("-",):
            stdin_result = _lint_stdin(run, stdin_filename)
            results.append(stdin_result)
        else:
            found = discover(list(paths), configs)
            errors.extend(found.errors)
            for target in found.targets:
                result, error = run.lint_path(target.path, target.display)
                if error is not None:
                    errors.append(error)
                elif result is not None:
                    results.append(result)
    except (ConfigError, UnknownRuleError) as err:
        _fail(str(err))

    fixed_total = 0
    if apply_fix or diff:
        results, fixed_total, fix_errors = _apply_fixes(
            run, results, unsafe_fixes, write=apply_fix and not diff, stdin=stdin_result is not None)
        errors.extend(fix_errors)

    use_probe = probe if probe is not None else any(
        configs.for_file(r.source.path if r.source else None).probe.enabled for r in results)
    if use_probe:
        from torchlint.probe.launcher import probe_results  # torch is imported only here

        results = probe_results(results, configs, progress=sys.stderr.isatty())

    internal = [message for result in results for message in result.errors]
    findings = sorted((f for r in results for f in r.findings), key=Finding.sort_key)
    report = Report(
        findings=findings,
        rules=RuleSet.all(),
        sources={r.display: r.source.text for r in results if r.source is not None},
        files_linted=len(results),
        fixed=fixed_total,
        show_source=show_source,
        statistics=statistics,
        color=output_format == "text" and sys.stdout.isatty(),
        unsafe_fixes=unsafe_fixes,
    )
    if not (diff and output_format == "text"):
        output = render(output_format, report)
        if quiet and output_format == "text":
            output = "".join(line + "\n" for line in output.splitlines()[:-1])
        if not (stdin_result is not None and apply_fix and not diff):
            click.echo(output, nl=False)
        else:
            click.echo(output, nl=False, err=True)
    for message in errors + internal:
        click.echo(f"torchlint: error: {message}", err=True)
    if errors or internal:
        sys.exit(EXIT_ERROR)
    if findings and not exit_zero:
        sys.exit(EXIT_FINDINGS)
    sys.exit(EXIT_CLEAN)


def _lint_stdin(run: Run, stdin_filename: str | None) -> FileResult:
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
    return run.lint(source)


def _apply_fixes(run: Run, results: list[FileResult], unsafe: bool, *, write: bool,
                 stdin: bool) -> tuple[list[FileResult], int, list[str]]:
    fixed_results: list[FileResult] = []
    errors: list[str] = []
    total = 0
    for result in results:
        final, outcome = run.fix(result, unsafe)
        if outcome is None:
            fixed_results.append(result)
            if stdin and write and result.source is not None:
                click.echo(result.source.text, nl=False)
            continue
        if outcome.parse_error is not None:
            errors.append(f"{result.display}: fixes not applied, the fixed code would not parse "
                          f"({outcome.parse_error})")
            fixed_results.append(result)
            continue
        total += outcome.fixed
        source = result.source
        assert source is not None
        if not write:
            click.echo(fixes.unified_diff(outcome.old_text, outcome.new_text, result.display), nl=False)
            fixed_results.append(result)
        elif stdin:
            click.echo(outcome.new_text, nl=False)
            fixed_results.append(final)
        else:
            assert source.path is not None
            fixes.write_atomically(source.path, source.encode(outcome.new_text))
            fixed_results.append(final)
    return fixed_results, total, errors


@main.command()
@click.argument("code", required=False)
@click.option("--all", "show_all", is_flag=True, help="Every rule's documentation.")
@click.option("--format", "output_format", type=click.Choice(["text", "json"]), default="text")
def rule(code: str | None, show_all: bool, output_format: str) -> None:
    """Show the documentation of rule CODE (TL101 or missing-eval)."""
    rules = RuleSet.all()
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


@main.command()
def lsp() -> None:
    """Run the language server on standard input and output."""
    try:
        from torchlint.lsp.server import serve
    except ImportError as err:
        _fail(f"the language server needs the lsp extra: pip install 'torchlint[lsp]' ({err})")
    serve()


if __name__ == "__main__":  # pragma: no cover
    main()
