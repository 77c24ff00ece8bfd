from llmguard.cli import main

main()
