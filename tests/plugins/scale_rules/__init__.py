"""Test-only rules for the process pool and the cache (tests/test_jobs.py,
tests/test_cache.py). Loaded with ``TORCHLINT_PLUGINS=scale_rules``."""
