"""The entry points' top floor: the `syndicate` command, one module per group of commands
(cli.service, cli.events, cli.operate, cli.backup). It imports api/ and worker/; nothing imports it."""
