from __future__ import annotations

from typing import ClassVar

from torchlint.findings import Severity
from torchlint.rule import Example, Rule


class SyntaxErrorRule(Rule):
    """## What it does
    Reports a file that Python cannot parse, at the parser's line and column.

    ## Why is this bad?
    Nothing in a file that does not parse can be checked, and the script will
    fail as soon as it is imported. The other files of the run are still linted.

    ## Example
    ```python
    for epoch in range(10)
        train(model)
    ```

    ## Use instead
    ```python
    for epoch in range(10):
        train(model)
    ```

    ## Fix safety
    There is no fix: only the author knows what was meant.
    """

    code = "TL001"
    name = "syntax-error"
    severity = Severity.ERROR
    summary = "The file does not parse."
    #: The engine reports parse failures through the rule that sets this.
    reports_parse_errors: ClassVar[bool] = True

    VALID = [Example("x = 1\n")]
    INVALID = [Example("import torch\nfor epoch in range(10)  # expect: TL001\n    pass\n")]

    def check(self, ctx) -> None:  # parse errors are reported by the engine
        return None
