"""Rules of the reporter tests (tests/test_reporters.py), loaded with
TORCHLINT_PLUGINS=report_rules. Each reports calls of one marker function
whose literal arguments choose the message, the fix and the probe verdict, so
a test file states exactly what every output format must show."""
