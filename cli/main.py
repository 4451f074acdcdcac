"""`syndicate`: the command group with every command registered (the console script's entry)."""

from cli import backup, events, operate, service  # noqa: F401  (each registers its commands)
from cli.group import main

__all__ = ["main"]

if __name__ == "__main__":
    main()
