"""The linter-side half of the probe, without running anything: the stripped
copy, the values recovered from the text, and the job a script becomes."""

from __future__ import annotations

import textwrap
from pathlib import Path

import libcst as cst

from torchlint.config import Config, ProbeSettings
from torchlint.engine import FileResult
from torchlint.probe import jobs, recover
from torchlint.probe.strip import strip
from torchlint.source import SourceFile


def _strip(text: str, injected=frozenset()):
    return strip(cst.parse_module(textwrap.dedent(text)), injected)


def test_stripped_copy_keeps_definitions_and_line_numbers():
    source = textwrap.dedent('''\
        #!/usr/bin/env python
        """Train."""
        import argparse
        import torch
        import torch.nn as nn
        try:
            import wandb
        except ImportError:
            wandb = None

        HIDDEN = 128
        device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
        if not torch.cuda.is_available():
            print("no GPU")
        vocab = build_vocab(open("data.txt").read())
        N = len(vocab)
        ACT = nn.ReLU()
        parser = argparse.ArgumentParser()
        parser.add_argument("--hidden", type=int, default=256)
        args = parser.parse_args()
        WIDTH = args.hidden * 2

        class Net(nn.Module):
            def __init__(self, v, h=HIDDEN):
                super().__init__()

        for epoch in range(10):
            train()

        if __name__ == "__main__":
            main()
        # end
        ''')
    stripped = strip(cst.parse_module(source), {"args"})
    assert stripped.text == textwrap.dedent('''\
        #!/usr/bin/env python
        """Train."""
        import argparse
        import torch
        import torch.nn as nn
        try:
            import wandb
        except ImportError:
            wandb = None

        HIDDEN = 128
        device = torch.device("cuda" if torch.cuda.is_available() else "cpu")




        ACT = nn.ReLU()



        WIDTH = args.hidden * 2

        class Net(nn.Module):
            def __init__(self, v, h=HIDDEN):
                super().__init__()






        # end
        ''')
    assert stripped.text.count("\n") == source.count("\n")
    assert stripped.optional_imports == {"wandb"}
    assert stripped.kept_names == {"argparse", "torch", "nn", "wandb", "HIDDEN", "device", "ACT",
                                   "WIDTH", "Net"}
    assert stripped.blanked == 8


def test_an_assignment_using_a_blanked_name_is_blanked_too():
    stripped = _strip("""\
        data = load()
        SIZE = len(data)
        CONST = 3
        """)
    assert stripped.text == "\n\nCONST = 3\n"


def test_reading_a_container_filled_by_blanked_code_is_blanked_too():
    """`run["net"] = Net()` is blanked (it builds the model): `net = run["net"]` would raise
    KeyError at load time, so it goes as well; other reads of defined names stay."""
    stripped = _strip("""\
        run = {}
        run["net"] = build()
        net = run["net"]
        cfg = {"width": 8}
        width = cfg["width"]
        """)
    assert stripped.text == 'run = {}\n\n\ncfg = {"width": 8}\nwidth = cfg["width"]\n'


def test_imports_in_a_try_whose_handler_reports_and_reraises_are_kept_as_required():
    """`try: import torch.nn as nn ... except ImportError as e: print(e); raise ImportError`: the
    imports are kept (the handler reduced to `raise`, the lines kept in place) and are required,
    not optional; a handler with a fallback (`HAS_TQDM = False`) keeps them optional."""
    stripped = _strip("""\
        try:
            import torch.nn as nn
            import tqdm
        except ImportError as e:
            print(e)
            raise ImportError
        try:
            import apex
        except ImportError:
            apex = None
        class Net(nn.Module):
            pass
        """)
    assert stripped.text.splitlines()[:7] == [
        "try:", "    import torch.nn as nn", "    import tqdm", "except ImportError as e:", "    raise", "", "try:"]
    assert stripped.text.splitlines()[10] == "class Net(nn.Module):"
    assert stripped.optional_imports == {"apex"}
    assert {"nn", "tqdm", "Net"} <= stripped.kept_names


def _info(text: str, path: Path | None = None) -> recover.SourceInfo:
    module = cst.parse_module(textwrap.dedent(text))
    from torchlint.semantic.walker import collect

    info = recover.SourceInfo(path=path, name="script", text=textwrap.dedent(text), module=module,
                              facts=collect(module))
    return info


def test_argparse_defaults_with_types_actions_and_set_defaults():
    info = _info("""\
        import argparse
        parser = argparse.ArgumentParser()
        parser.add_argument("--hidden-dim", type=int, default="64")
        parser.add_argument("--lr", type=float, default=1e-3)
        parser.add_argument("-v", "--verbose", action="store_true")
        parser.add_argument("--no-cuda", action="store_false", dest="cuda")
        parser.add_argument("--layers", default=2 * 3)
        parser.add_argument("--name")
        parser.set_defaults(lr=0.5)
        """)
    evaluator = recover.Evaluator(info)
    evaluator.setup()
    assert evaluator.argparse == {"hidden_dim": 64, "lr": 0.5, "verbose": False, "cuda": True,
                                  "layers": 6, "name": None}


def _job(tmp_path: Path, files: dict[str, str], script: str = "train.py", hints=None):
    for name, text in files.items():
        target = tmp_path / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(textwrap.dedent(text))
    path = tmp_path / script
    source = SourceFile(display=script, text=path.read_text(), path=path)
    from torchlint.findings import Finding, Severity, Span

    finding = Finding(code="TL999", name="x", severity=Severity.ERROR, message="m", path=script,
                      span=Span(1, 0, 1, 1), context={})
    result = FileResult(display=script, source=source, findings=[finding])
    probed = [jobs.ProbedFinding(0, finding, "def experiment(lab):\n    pass\n", "experiment")]
    config = Config(path=tmp_path / "pyproject.toml", probe=ProbeSettings(classes=hints or {}))
    return jobs.build_job(0, result, probed, config)


def test_job_recovers_the_scripts_construction_call(tmp_path):
    job = _job(tmp_path, {
        "models/__init__.py": "",
        "models/net.py": """\
            import torch.nn as nn
            from .blocks import Block

            class Net(Block):
                def __init__(self, vocab_size, hidden, classes=3, act=None):
                    super().__init__()
            """,
        "models/blocks.py": """\
            import torch.nn as nn

            class Block(nn.Module):
                pass
            """,
        "train.py": """\
            import click
            import torch.nn as nn
            from models.net import Net

            CONFIG = {"hidden": 48, "classes": 7}

            @click.command()
            @click.option("--layers", default=2)
            def main(layers):
                vocab = load_vocab()
                if CONFIG["classes"] > 5:
                    classes = CONFIG["classes"]
                else:
                    classes = 2
                model = Net(len(vocab), CONFIG["hidden"], classes=classes, act=nn.ReLU()).to("cpu")
            """,
    })
    assert [(m["name"], m["package"]) for m in job["modules"]] == [
        ("train", False), ("models", True), ("models.net", False), ("models.blocks", False)]
    [net, block] = job["models"]
    assert net == {
        "class": "Net", "module": "models.net", "callee": "Net", "args_module": "train",
        "args": [{"unknown": "len(vocab)"}, {"literal": "48"}],
        "kwargs": {"classes": {"literal": "7"}, "act": {"expr": "nn.ReLU()"}},
        "notes": {}, "text": 'Net(len(vocab), CONFIG["hidden"], classes=classes, act=nn.ReLU())',
        "line": 15, "kind": "call", "origin": "train.py:15"}
    assert block["kind"] == "signature"
    assert job["experiments"][0]["model"] == 0


def test_hint_factory_file_is_loaded_stripped(tmp_path):
    job = _job(tmp_path, {
        "train.py": "import torch.nn as nn\n\nclass Net(nn.Module):\n    pass\n",
        "probe_inputs.py": "import torch\n\ndef make(model, batch):\n    return torch.zeros(batch, 3)\n"
                           "print('never run')\n",
    }, hints={"Net": {"factory": "probe_inputs.py:make"}})
    assert job["factories"] == {"Net": {"module": "__torchlint_factory_0__", "function": "make",
                                        "text": "probe_inputs.py:make"}}
    [factory] = [m for m in job["modules"] if m["name"] == "__torchlint_factory_0__"]
    assert factory["source"].endswith("return torch.zeros(batch, 3)\n\n")


def test_a_hint_naming_a_missing_factory_file_fails_the_job(tmp_path):
    try:
        _job(tmp_path, {"train.py": "import torch.nn as nn\n"}, hints={"Net": {"factory": "nope.py:f"}})
    except jobs.JobError as err:
        assert str(err) == (f"{tmp_path / 'pyproject.toml'} [tool.torchlint.probe.classes.Net]: "
                            "factory file nope.py does not exist")
    else:
        raise AssertionError("no JobError")


def test_experiment_source_is_the_dedented_function_without_decorator():
    from torchlint.rule import Rule

    class WithExperiment(Rule):
        code = "TL998"

        @staticmethod
        def experiment(lab):
            return lab.refuted("nothing")

    class WithoutExperiment(Rule):
        code = "TL997"

    assert jobs.experiment_of(WithExperiment) == (
        "def experiment(lab):\n    return lab.refuted(\"nothing\")\n", "experiment")
    assert jobs.experiment_of(WithoutExperiment) is None


def test_script_module_names_never_shadow_real_modules():
    assert jobs.module_name_for(Path("/p/train.py")) == "train"
    assert jobs.module_name_for(Path("/p/random.py")) == "__torchlint_script__"
    assert jobs.module_name_for(Path("/p/torch.py")) == "__torchlint_script__"
    assert jobs.module_name_for(Path("/p/my-script.py")) == "__torchlint_script__"
    assert jobs.module_name_for(None) == "__torchlint_script__"


def test_a_package_module_is_named_from_its_outermost_package(tmp_path):
    for folder in ("top", "top/models"):
        (tmp_path / folder).mkdir(parents=True, exist_ok=True)
        (tmp_path / folder / "__init__.py").write_text("")
    assert jobs.package_module_name(tmp_path / "top/models/heads.py") == "top.models.heads"
    assert jobs.package_module_name(tmp_path / "train.py") is None  # not in a package
    assert jobs.package_module_name(tmp_path / "top/__init__.py") is None
    (tmp_path / "json").mkdir()
    (tmp_path / "json/__init__.py").write_text("")
    assert jobs.package_module_name(tmp_path / "json/heads.py") is None  # would shadow the stdlib


def test_a_package_module_probed_alone_is_loaded_as_part_of_its_package(tmp_path):
    job = _job(tmp_path, {
        "models/__init__.py": "from .heads import *\n",
        "models/base.py": "from torch import nn\n\nclass Head(nn.Module):\n    pass\n",
        "models/heads.py": "from .base import Head\n\nclass DropoutHead(Head):\n    pass\n",
    }, script="models/heads.py")
    assert job["script_module"] == "models.heads"
    assert sorted((m["name"], m["package"]) for m in job["modules"]) == [
        ("models", True), ("models.base", False), ("models.heads", False)]


def test_a_script_without_relative_imports_keeps_its_plain_name(tmp_path):
    job = _job(tmp_path, {"models/__init__.py": "", "models/train.py": "import torch\n"},
               script="models/train.py")
    assert job["script_module"] == "train"


def test_a_construction_through_a_packages_re_export_reaches_the_defining_module(tmp_path):
    job = _job(tmp_path, {
        "models/__init__.py": "from .nets import *\nfrom .heads import Head as Classifier\n",
        "models/nets.py": "from torch import nn\n\nclass Net(nn.Module):\n"
                          "    def __init__(self, width=3):\n        super().__init__()\n",
        "models/heads.py": "from torch import nn\n\nclass Head(nn.Module):\n    pass\n",
        "train.py": "from models import Net, Classifier\n\nnet = Net(width=5)\nhead = Classifier()\n",
    })
    built = {spec["class"]: (spec["module"], spec["kind"], spec["kwargs"]) for spec in job["models"]}
    assert built == {"Net": ("models.nets", "call", {"width": {"literal": "5"}}),
                     "Head": ("models.heads", "call", {})}


def _job_with_finding(tmp_path, text: str, line: int, context: dict) -> dict:
    from torchlint.findings import Finding, Severity, Span

    path = tmp_path / "train.py"
    path.write_text(textwrap.dedent(text))
    source = SourceFile(display="train.py", text=path.read_text(), path=path)
    finding = Finding(code="TL999", name="x", severity=Severity.ERROR, message="m", path="train.py",
                      span=Span(line, 0, line, 1), context=context)
    result = FileResult(display="train.py", source=source, findings=[finding])
    probed = [jobs.ProbedFinding(0, finding, "def experiment(lab):\n    pass\n", "experiment")]
    return jobs.build_job(0, result, probed, Config(path=tmp_path / "pyproject.toml"))


TWO_MODELS = """\
    import torch.nn as nn
    import torch.nn.functional as F

    class Scorer(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(4, 3)

        def forward(self, x):
            return F.softmax(self.fc(x), dim=1)

    class Ranker(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(4, 1)

        def forward(self, x):
            return self.fc(x)

    scorer, ranker = Scorer(), Ranker()
    """


def test_a_finding_is_probed_on_its_own_model_or_on_none(tmp_path):
    """Never on the script's "main" model when the finding is about something else."""
    def chosen(line, context):
        job = _job_with_finding(tmp_path, TWO_MODELS, line, context)
        index = job["experiments"][0]["model"]
        return None if index is None else job["models"][index]["class"]

    assert chosen(10, {}) == "Scorer"  # inside Scorer.forward: that class
    assert chosen(18, {}) == "Ranker"
    assert chosen(20, {"class": "Ranker"}) == "Ranker"
    assert chosen(20, {"class": "NotInTheScript"}) is None  # never a stand-in from the script
    assert chosen(20, {}) is None  # two models, the finding names neither


def test_a_config_dict_with_unknown_entries_keeps_its_known_ones_and_the_sandbox_guesses_the_rest(tmp_path):
    job = _job(tmp_path, {
        "train.py": """\
            import torch.nn as nn

            class Speller(nn.Module):
                def __init__(self, spec):
                    super().__init__()
                    self.table = nn.Embedding(spec["vocab"], spec["width"])

            def main(corpus):
                return Speller({"vocab": corpus.alphabet_size(), "width": 24})
            """,
    })
    (speller,) = job["models"]
    assert speller["args"] == [{"dict": {"vocab": {"unknown": "vocab"}, "width": {"literal": "24"}}}]
    from torchlint.probe import sandbox_build as build  # (imports torch)

    prepared = build.prepare(speller, {"Speller": lambda spec: spec}, {}, {}, {})
    assert prepared.arguments == {"spec": {"vocab": 50, "width": 24}}
    assert prepared.substitutions == {"spec": "a dict whose unknown entries were guessed by key (vocab=50)"}


def test_a_name_imported_from_another_module_s_blanked_code_blanks_the_statements_using_it(tmp_path):
    job = _job(tmp_path, {
        "feeds.py": """\
            import torch
            batches = torch.utils.data.DataLoader(read_corpus(), batch_size=8)
            WIDTH = 12
            """,
        "train.py": """\
            import torch.nn as nn
            from feeds import batches, WIDTH
            PER_EPOCH = len(batches)
            LAYER = nn.Linear(WIDTH, 2)
            """,
    })
    script = next(m for m in job["modules"] if m["name"] == "train")
    lines = script["source"].splitlines()
    assert lines[2] == ""  # `len(batches)` would call a stub at load: blanked
    assert lines[3] == "LAYER = nn.Linear(WIDTH, 2)"  # WIDTH is kept by feeds.py's copy
