"""The `nasfs` command line: one module per group of subcommands, assembled by `main`."""
