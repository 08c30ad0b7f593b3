"""The runtime probe: confirms findings by running the user's model in a sandbox.

Entry point: :func:`torchlint.probe.launcher.probe_results`, called by the CLI
with ``--probe``. The ``sandbox_*`` modules run in the sandbox process and
import only the standard library and torch; the others run in the linter and
never import torch. README.md beside this file documents the experiment
contract and the ``lab`` API that rule experiments use.
"""
