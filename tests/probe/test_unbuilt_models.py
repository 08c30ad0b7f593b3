"""A model the probe cannot build gets the reason a user can act on."""

from __future__ import annotations

from probe_support import probe


def test_a_model_class_from_a_module_that_is_not_among_the_files_is_named(tmp_path):
    run = probe("--select", "TL102", "--no-cache", "fixtures/probe/missing_model_module", tmpdir=tmp_path,
                plugins=False)
    (finding,) = run.findings
    result = finding["probe"]
    assert (result["verdict"], result["reason"]) == ("inconclusive", "missing_dependency")
    assert result["evidence"]["summary"] == (
        "`model` is built by Tagger(...) (line 9), from nets.tagger, which is neither among the files "
        "probed nor installed: probe the whole project (or the file that defines it)")
