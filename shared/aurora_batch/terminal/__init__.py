"""How the `aurora-batch` command presents itself on a terminal: progress bars and tables.

Tables are plain text on a pipe; rich (the `cli` extra) is imported only to draw on a terminal.
Machines ask for `--json`, which bypasses this package entirely.
"""
