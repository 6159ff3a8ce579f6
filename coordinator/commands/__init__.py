"""One module per command beyond ``plan`` and ``run``: each a plain function the CLI calls."""
