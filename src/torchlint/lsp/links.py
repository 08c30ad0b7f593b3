"""Where a rule's documentation lives on the web (Diagnostic.codeDescription).

Defined here until the reporters publish a shared constant; `torchlint rule
CODE` prints the same text offline.
"""

from __future__ import annotations

from torchlint.rule import Rule

RULE_DOCS_URL = "https://github.com/torchlint/torchlint/blob/main/docs/rules.md#{anchor}"


def rule_docs_url(rule: type[Rule]) -> str:
    return RULE_DOCS_URL.format(anchor=f"{rule.code.lower()}-{rule.name}")
