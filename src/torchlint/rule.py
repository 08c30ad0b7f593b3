"""What a rule is: one self-describing class.

A rule module in ``torchlint.rules`` defines one subclass of :class:`Rule`.
The class carries everything about the rule: its code, name, severity and
summary; its documentation (the class docstring, with the fixed headings in
:data:`DOC_HEADINGS`); examples of valid and invalid code that the test
suite runs; its static check; and, for the probe, the name of the
experiment that confirms it.

A check reads facts from the shared semantic layer (``ctx.model``) and calls
``ctx.report``. It never walks the syntax tree itself: the engine's one
traversal already collected what every rule needs.
"""

from __future__ import annotations

import inspect
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

from torchlint.findings import Severity

if TYPE_CHECKING:
    from torchlint.engine import RuleContext

#: Headings every rule docstring has, in this order (as ruff's docs do).
DOC_HEADINGS = ("What it does", "Why is this bad?", "Example", "Use instead", "Fix safety")

CODE_RE = re.compile(r"^TL\d{3}$")
NAME_RE = re.compile(r"^[a-z]+(-[a-z0-9]+)*$")


@dataclass(frozen=True)
class Example:
    """A code example that is also a test.

    Lines of an invalid example that must be reported end with a comment
    ``# expect: TL101`` (several codes separated by commas). ``fixed`` is the
    code after the rule's fix, when it has one.
    """

    code: str
    fixed: str | None = None
    files: tuple[tuple[str, str], ...] = ()  # extra project files: (relative path, text)


class Rule:
    code: ClassVar[str]
    name: ClassVar[str]
    severity: ClassVar[Severity]
    summary: ClassVar[str]
    default_enabled: ClassVar[bool] = True
    #: The applicability of the rule's fix ("safe" or "unsafe"), None without one.
    fix_applicability: ClassVar[str | None] = None
    #: A rule confirms its findings with ``@staticmethod def experiment(lab): ...``:
    #: its source runs in the probe's sandbox (see src/torchlint/probe/README.md).
    #: None: the rule has no experiment and its findings get no verdict.
    experiment: ClassVar[object] = None

    VALID: ClassVar[list[Example]] = []
    INVALID: ClassVar[list[Example]] = []

    def check(self, ctx: RuleContext) -> None:
        raise NotImplementedError

    @classmethod
    def docs(cls) -> str:
        return inspect.cleandoc(cls.__doc__ or "")

    @classmethod
    def doc_sections(cls) -> dict[str, str]:
        """The docstring split by its ``## Heading`` lines."""
        sections: dict[str, str] = {}
        current = None
        lines: list[str] = []
        for line in cls.docs().splitlines():
            if line.startswith("## "):
                if current is not None:
                    sections[current] = "\n".join(lines).strip()
                current, lines = line[3:].strip(), []
            elif current is not None:
                lines.append(line)
        if current is not None:
            sections[current] = "\n".join(lines).strip()
        return sections

    @classmethod
    def problems(cls) -> list[str]:
        """What is missing or malformed on the class; empty when it is complete."""
        found: list[str] = []
        for attr in ("code", "name", "severity", "summary"):
            if not getattr(cls, attr, None):
                found.append(f"{cls.__name__}: missing {attr}")
        if getattr(cls, "code", None) and not CODE_RE.match(cls.code):
            found.append(f"{cls.__name__}: code {cls.code!r} is not TL followed by three digits")
        if getattr(cls, "name", None) and not NAME_RE.match(cls.name):
            found.append(f"{cls.__name__}: name {cls.name!r} is not kebab-case")
        headings = list(cls.doc_sections())
        if headings != list(DOC_HEADINGS):
            found.append(
                f"{cls.__name__}: docstring headings {headings} differ from {list(DOC_HEADINGS)}"
            )
        return found
