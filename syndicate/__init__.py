"""syndicate: command line, configuration, logging and the embedded Redis."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("syndicate")
except PackageNotFoundError:  # a source tree that was never installed
    __version__ = "0.0.0+unknown"
