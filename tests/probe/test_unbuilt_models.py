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


def test_globals_the_main_block_sets_are_given_to_the_model_s_code(tmp_path):
    """Tutorial code: the model reads `n_hidden`, `n_tags` (literals of the main block) and
    `n_words = len(vocab)` as globals. The literals are given as written, the length guessed
    from its name; the verdict lists both."""
    run = probe("--select", "TL101", "--no-cache", "fixtures/probe/tutorial_globals", tmpdir=tmp_path,
                plugins=False)
    (finding,) = run.findings
    result = finding["probe"]
    assert result["verdict"] == "confirmed", result["evidence"]
    assert result["assumptions"]["globals"] == {
        "n_hidden": "24 (as the script assigns it)", "n_tags": "3 (as the script assigns it)",
        "n_words": "len(vocab) -> 50 (guessed from the name)"}
