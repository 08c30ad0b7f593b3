"""The language server (``torchlint lsp``).

``server`` wires LSP messages to a :class:`~torchlint.lsp.session.Session`,
which lints open documents through the same :class:`~torchlint.runner.Run`
as the command line, so both give the same findings for the same text and
configuration. The other modules each do one job: settings, positions,
diagnostics, code actions, hover, noqa comments, notebooks, configuration,
the probe, the lint thread, and where pygls needs correcting: the protocol
(line breaks, finished handlers) and reading standard input.
"""
