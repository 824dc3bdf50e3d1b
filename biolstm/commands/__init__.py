"""Subcommands of the ``biolstm`` command line (one module each)."""
