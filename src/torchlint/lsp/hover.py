"""Hover text: a rule's documentation as Markdown, with the probe's verdict
when there is one."""

from __future__ import annotations

from torchlint.findings import Finding, ProbeResult
from torchlint.lsp.diagnostics import probe_note
from torchlint.reporters import docs_url
from torchlint.rule import Rule


def rule_markdown(rule: type[Rule], probe: ProbeResult | None = None,
                  finding: Finding | None = None) -> str:
    """The hover of a finding: its title and body (why it matters, what to do)
    first, then the probe's verdict and the rule's documentation."""
    if finding is not None:
        parts = [f"**{rule.code} {finding.title}**", finding.body,
                 f"Rule `{rule.name}` ({rule.severity}): {rule.summary}"]
        if finding.fix is not None and finding.fix.title:
            parts.append(f"Fix ({finding.fix.applicability}): {finding.fix.title}")
    else:
        parts = [f"**{rule.code} {rule.name}** ({rule.severity})", rule.summary]
    if probe is not None:
        parts.append(f"**{probe_note(probe).capitalize()}**")
        if probe.hint:
            parts.append("To make the probe conclusive, add to pyproject.toml:\n\n"
                         f"```toml\n{probe.hint}\n```")
    parts.append(rule.docs())
    parts.append(f"[{rule.code} documentation]({docs_url(rule.code, rule.name)})")
    return "\n\n".join(part for part in parts if part)


def prefix_markdown(prefix: str, rules: list[type[Rule]]) -> str:
    """For a prefix such as ``TL1`` in a noqa comment: the rules it silences."""
    rows = "\n".join(f"- **{r.code} {r.name}**: {r.summary}" for r in rules)
    return f"`{prefix}` silences {len(rules)} rule{'s' if len(rules) != 1 else ''}:\n\n{rows}"
