from __future__ import annotations

from typing import ClassVar

from torchlint.findings import Applicability, Edit, Fix, Severity, Span
from torchlint.rule import Example, Rule
from torchlint.suppressions import Directive, Suppressions

#: A torchlint code as written in a noqa comment (a prefix such as TL1 is not one).
_CODE_LENGTH = 5


class UnusedNoqaRule(Rule):
    """## What it does
    Reports a torchlint code in a `# noqa: ...` comment that silences nothing on
    its line, and a `TL` code that names no rule.

    ## Why is this bad?
    A stale `# noqa: TL101` hides the next real finding on that line: when the
    code changes and the bug comes back, nobody is told. A misspelt code
    silences nothing while looking as if it did. Codes of other tools
    (`E501`, `F401`) and a bare `# noqa` are left alone, and so is the code of
    a rule that was not run on the file (deselected or ignored there).

    ## Example
    ```python
    total = 0.0  # noqa: TL501
    ```

    ## Use instead
    ```python
    total = 0.0
    ```

    ## Fix safety
    The fix removes the unused code from the comment (the whole `# noqa`
    directive when it was the only code). It is safe: the code silenced
    nothing, so no finding appears that was not there before.
    """

    code = "TL002"
    name = "unused-noqa"
    severity = Severity.WARNING
    summary = "A noqa comment names a torchlint code that silences nothing."
    fix_applicability = "safe"
    #: Off by default, as ruff's RUF100: enable it with `--extend-select TL002`
    #: (or `extend-select = ["TL002"]`) to keep noqa comments honest.
    default_enabled = False
    #: The engine calls `unused` after every other rule has run on the file.
    reports_unused_noqa: ClassVar[bool] = True

    VALID = [
        Example("import torch\nx = torch.ones(3)  # noqa: E501\n"),
        Example("import torch\nx = torch.ones(3)  # noqa\n"),
    ]
    INVALID = [
        Example("import torch\nx = torch.ones(3)  # noqa: TL999  # expect: TL002\n",
                fixed="import torch\nx = torch.ones(3)  # expect: TL002\n"),
        Example("import torch\nx = torch.ones(3)  # noqa: E501, TL999  # expect: TL002\n",
                fixed="import torch\nx = torch.ones(3)  # noqa: E501  # expect: TL002\n"),
    ]

    def check(self, ctx) -> None:  # reported by the engine through `unused`
        return None

    @classmethod
    def unused(cls, noqa: Suppressions, ran: frozenset[str], known: frozenset[str],
               lines: list[str]) -> list[tuple[Span, str, str, Fix]]:
        """(span, title, body, fix) of each unused or unknown torchlint code in
        the file's line directives. `ran`: codes of the rules that ran on the
        file without crashing; `known`: every rule's code."""
        found = []
        for directive in noqa.directives.values():
            problems = [(code, column, problem) for code, column in directive.codes
                        if (problem := _problem(code, directive.line, noqa, ran, known)) is not None]
            if not problems:
                continue
            line = lines[directive.line - 1] if directive.line <= len(lines) else ""
            first_code, first_column = problems[0][0], problems[0][1]
            last_code, last_column = problems[-1][0], problems[-1][1]
            span = Span(directive.line, first_column, directive.line, last_column + len(last_code))
            if len(problems) == 1:
                title, body = problems[0][2]
                fix = _removal(directive, first_code, line)
            else:
                # One finding per comment, with one fix for all its stale codes: separate
                # fixes for neighbouring codes would overlap on the comma between them.
                names = ", ".join(code for code, _, _ in problems)
                title = f"`# noqa` names {len(problems)} codes that silence nothing here ({names})"
                body = " ".join(problem[1] for _, _, problem in problems)
                fix = _removal_of_codes(directive, {code for code, _, _ in problems}, line)
            found.append((span, title, body, fix))
        return found


def _problem(code: str, line: int, noqa: Suppressions, ran: frozenset[str],
             known: frozenset[str]) -> tuple[str, str] | None:
    if not code.startswith("TL"):
        return None  # another tool's code
    if (line, code) in noqa.used:
        return None
    if len(code) == _CODE_LENGTH and code[2:].isdigit():
        if code not in known:
            return (f"`# noqa: {code}` names no torchlint rule",
                    f"{code} is not a torchlint code, so this comment silences nothing while "
                    "it looks as if it did. Correct the code (`torchlint rule --all` lists them) "
                    "or remove it.")
        if code not in ran:
            return None  # the rule did not run here: whether it would report is unknown
        return (f"`# noqa: {code}` silences nothing on this line",
                f"{code} reports nothing here, so the comment only hides the next real finding "
                "on this line. Remove the code from the comment.")
    if not any(rule.startswith(code) for rule in known):
        return (f"`# noqa: {code}` names no torchlint rule",
                f"No torchlint code starts with {code}, so this comment silences nothing. "
                "Correct the prefix or remove it.")
    return None  # a prefix of known rules: whether all of them ran is not tracked


def _removal_of_codes(directive: Directive, stale: set[str], line: str) -> Fix:
    """Remove every code of `stale` from the directive at once (the whole directive
    when nothing else is left in it)."""
    codes = [c for c, _ in directive.codes]
    kept = [c for c in codes if c not in stale]
    if not kept:
        whole = _removal(directive._replace(codes=directive.codes[:1]), codes[0], line)
        return Fix(Applicability.SAFE, whole.edits, f"Remove `# noqa: {', '.join(codes)}`")
    columns = [column for _, column in directive.codes]
    span = Span(directive.line, columns[0], directive.line, columns[-1] + len(codes[-1]))
    return Fix(Applicability.SAFE, (Edit(span, ", ".join(kept)),),
               f"Remove {', '.join(c for c in codes if c in stale)} from the noqa comment")


def _removal(directive: Directive, code: str, line: str) -> Fix:
    """Remove `code` from the directive, or the whole directive when it is the
    only code (with the blanks before it)."""
    codes = [c for c, _ in directive.codes]
    number = directive.line
    if len(codes) == 1:
        start = directive.start
        while start > 0 and line[start - 1] in " \t":
            start -= 1
        end = directive.end
        # Keep a following comment ("# noqa: TL101  # why") one blank from the code.
        rest = line[end:]
        if rest.strip():
            end += len(rest) - len(rest.lstrip())
            replacement = "  " if start > 0 else ""
        else:
            replacement = ""
        edit = Edit(Span(number, start, number, end), replacement)
        return Fix(Applicability.SAFE, (edit,), f"Remove `# noqa: {code}`")
    index = codes.index(code)
    columns = [column for _, column in directive.codes]
    if index == 0:  # "TL101, E501": up to the next code
        span = Span(number, columns[0], number, columns[1])
    else:  # "E501, TL101": from the end of the previous code
        previous = columns[index - 1] + len(codes[index - 1])
        span = Span(number, previous, number, columns[index] + len(code))
    return Fix(Applicability.SAFE, (Edit(span, ""),), f"Remove {code} from the noqa comment")
