"""Test-only rules that exercise torchlint's frame (CLI, fixes, noqa, crashes)
before the real rules exist. Loaded with ``TORCHLINT_PLUGINS=frame_rules``
(the ``torchlint`` fixture's ``plugins="frame_rules"``)."""
