"""README's rule table and docs/rules.md are generated from the rule classes."""

from __future__ import annotations

from support import REPO

from torchlint.docs import expected_readme, rules_reference
from torchlint.registry import RuleSet


def test_readme_rule_table_is_current():
    readme = (REPO / "README.md").read_text()
    assert readme == expected_readme(readme, RuleSet.all()), "run: python -m torchlint.docs --write"


def test_rules_reference_is_current():
    assert (REPO / "docs" / "rules.md").read_text() == rules_reference(RuleSet.all())


def test_readme_starts_with_the_two_commands():
    readme = (REPO / "README.md").read_text()
    first_blocks = [block.split("```", 1)[0].strip() for block in readme.split("```bash\n")[1:3]]
    assert first_blocks[0] == "pip install -e . && torchlint examples/train.py"
    assert first_blocks[1].startswith("pip install 'torch==2.13.0' -e '.[dev]' && python -m pytest")
