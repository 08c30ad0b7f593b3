"""Test-only rules with probe experiments (TL9xx), to exercise the probe before
and beside the real rules. Loaded with ``TORCHLINT_PLUGINS=probe_rules``."""
