"""syndicate: command line, configuration and the embedded Redis."""
