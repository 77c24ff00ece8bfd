"""``python -m llmguard``: the command line."""

from llmguard.cli import main

main()
