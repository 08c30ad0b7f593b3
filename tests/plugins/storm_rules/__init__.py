"""Test-only rules for the language server's load tests (TORCHLINT_PLUGINS=storm_rules).

TL991 holds the lint thread for the seconds a ``# lint-sleep: N`` comment asks,
so a test knows a lint is running while it sends more. Codes TL99x are never
used by real rules nor by the other test rule packages loaded beside it.
"""
