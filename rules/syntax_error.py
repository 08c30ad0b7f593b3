from __future__ import annotations

from typing import ClassVar

from torchlint.findings import Severity
from torchlint.rule import Example, Rule


class SyntaxErrorRule(Rule):
    """## What it does
    Reports a file that Python cannot parse, at the parser's line and column
    (its first error).

    When blanking the statements that do not parse (a Python 2 `print x`, a
    header that lost its colon) makes the rest of the file parse, the rest is
    still checked, and its findings point at their real lines; the finding
    lists the statements that were skipped. No fix is offered or applied in
    such a file until it parses: its edits would be computed on other text.

    ## Why is this bad?
    The script will fail as soon as it is imported, and whatever was skipped
    to read the rest of it was not checked. The other files of the run are
    linted as usual.

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
