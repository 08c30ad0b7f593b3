"""The language server (``torchlint lsp``)."""
