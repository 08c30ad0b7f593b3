"""The rule table of README.md and the rule reference docs/rules.md, generated
from the rule classes so they never drift (tests/test_docs.py compares).

    python -m torchlint.docs          # check, exit 1 when out of date
    python -m torchlint.docs --write  # regenerate
"""

from __future__ import annotations

import sys
from pathlib import Path

from torchlint.registry import RuleSet

BEGIN, END = "<!-- rules-table:begin -->", "<!-- rules-table:end -->"


def anchor(code: str, name: str) -> str:
    return f"{code}-{name}".lower()


def rules_table(rules: RuleSet) -> str:
    lines = ["| Code | Name | Severity | Fix | What it finds |", "| --- | --- | --- | --- | --- |"]
    for rule in rules.rules:
        kind = rule.fix_applicability or ""
        link = f"[{rule.code}](docs/rules.md#{anchor(rule.code, rule.name)})"
        lines.append(f"| {link} | `{rule.name}` | {rule.severity} | {kind} | {rule.summary} |")
    return "\n".join(lines)


def rules_reference(rules: RuleSet) -> str:
    parts = ["# torchlint rules", "",
             "Generated from the rule classes by `python -m torchlint.docs --write`; "
             "`torchlint rule CODE` prints the same text.", ""]
    for rule in rules.rules:
        parts.append(f"## {rule.code} {rule.name}")
        parts.append("")
        parts.append(f"Severity: {rule.severity}. {rule.summary}")
        parts.append("")
        for heading, text in rule.doc_sections().items():
            parts.append(f"### {heading}")
            parts.append("")
            parts.append(text)
            parts.append("")
    return "\n".join(parts).rstrip() + "\n"


def expected_readme(readme: str, rules: RuleSet) -> str:
    start, end = readme.index(BEGIN) + len(BEGIN), readme.index(END)
    return readme[:start] + "\n" + rules_table(rules) + "\n" + readme[end:]


def main(argv: list[str]) -> int:
    root = Path(__file__).resolve().parents[2]
    rules = RuleSet.all()
    readme_path, reference_path = root / "README.md", root / "docs" / "rules.md"
    readme = readme_path.read_text()
    new_readme, new_reference = expected_readme(readme, rules), rules_reference(rules)
    if "--write" in argv:
        readme_path.write_text(new_readme)
        reference_path.parent.mkdir(exist_ok=True)
        reference_path.write_text(new_reference)
        return 0
    stale = readme != new_readme or not reference_path.exists() or reference_path.read_text() != new_reference
    if stale:
        print("README.md or docs/rules.md is out of date: python -m torchlint.docs --write")
    return 1 if stale else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
