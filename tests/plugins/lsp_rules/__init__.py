"""Test-only rules for the language server tests (loaded with TORCHLINT_PLUGINS=lsp_rules).

TL901 reports ``print(...)`` (safe fix), TL902 ``breakpoint()`` (unsafe fix),
TL903 always crashes, TL904 reports constructing a class imported from a
local module (it reads the other file, so its findings depend on it).
Codes in the TL9xx range are never used by real rules.
"""
