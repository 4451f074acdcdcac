"""`python -m cli ...` is `syndicate ...`."""

from cli.main import main

main(prog_name="syndicate")
