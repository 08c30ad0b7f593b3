"""The pieces finding titles are made of stay short whatever the user's names."""

from __future__ import annotations

from torchlint import titles


def test_code_is_one_line_and_cut():
    assert titles.code("model") == "`model`"
    assert titles.code("a(\n    b)") == "`a( b)`"
    assert titles.code("x" * 50, 10) == "`xxxxxxx...`"


def test_name_keeps_its_end():
    assert titles.name("F.dropout", 16) == "`F.dropout`"
    assert titles.name("torch.nn.functional.dropout1d", 16) == "`dropout1d`"


def test_call_hides_arguments_but_not_their_absence():
    assert titles.call("optimizer.step()") == "`optimizer.step()`"
    assert titles.call("opt.zero_grad(set_to_none=True)") == "`opt.zero_grad(...)`"
    assert titles.call("self.optimizer.zero_grad(set_to_none=True)", 24) == "`optimizer.zero_grad(...)`"


def test_kinds_are_sorted_type_names():
    assert titles.kinds(["Dropout(0.5)", "BatchNorm1d(16)", "Dropout(0.1)"]) == "BatchNorm1d, Dropout"
    assert titles.kinds(["code that reads self.training"]) == ""
    assert titles.kinds(["the layers of Net"], default="BatchNorm") == "BatchNorm"


def test_listed_fits_a_budget():
    assert titles.listed(["a", "b", "c", "d"]) == "a, b, c +1 more"
    assert titles.listed(["RandomResizedCrop", "RandomHorizontalFlip"], limit=30) == "RandomResizedCrop +1 more"
