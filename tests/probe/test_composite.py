"""A model assembled from parts the script builds first (``Composer(reader, writer)``): the parts
are built from their own construction calls, and the TL202 experiment judges the rows the model
wrote (a buffer filled from step 1 keeps a row of zeros, which is neither logits nor log-probs)."""

from __future__ import annotations

from probe_support import probe


def test_parts_built_by_the_script_are_built_first_and_unwritten_rows_are_skipped(tmp_path):
    run = probe("--select", "ALL", "--no-cache", "fixtures/probe/composite", tmpdir=tmp_path, plugins=False)
    (finding,) = run.findings
    result = finding["probe"]
    assert finding["code"] == "TL202"
    assert result["verdict"] == "confirmed_redundant", result["evidence"]
    assumptions = result["assumptions"]
    assert assumptions["constructor"] == "Composer(reader=Reader(...), writer=Writer(...))"
    assert assumptions["substitutions"] == {
        "reader": "Reader(LETTERS, STATE) (line 53, built as the script builds it)",
        "writer": "Writer(STATE, LETTERS) (line 54, built as the script builds it)"}
    assert assumptions["rows_skipped"] == "4 of 24 rows of zeros (positions the model never wrote)"
