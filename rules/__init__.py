"""torchlint's rules: one module per rule, discovered by walking this package."""
