"""The `syndicate` command group; the commands are in cli.service, cli.events, cli.operate and
cli.backup."""

from __future__ import annotations

import textwrap

import click

from cli.common import OPTIONS
from syndicate import __version__
from worker.social import NETWORKS

# Every network's variables, named from the registry so that a new network is listed too.
_VARIABLES = textwrap.fill(
    'Reads SYNDICATE_* variables (README "Configuration"): SYNDICATE_REDIS_URL, '
    "SYNDICATE_BROKER_URL, SYNDICATE_DATA_DIR, SYNDICATE_WEBHOOK_SECRET, SYNDICATE_ADMIN_TOKEN, "
    "SYNDICATE_PUBLIC_URL, SYNDICATE_SITE_*, SYNDICATE_FEED_SIZE, SYNDICATE_WEBSUB_HUBS, and each "
    "network's (" + ", ".join(f"SYNDICATE_{name.upper()}_*" for name in NETWORKS) + ").",
    width=92,
    break_long_words=False,
    break_on_hyphens=False,
)


@click.group(
    epilog="""\b
Examples:
  syndicate run                      # everything, on an embedded Redis in ./var
  syndicate send event.json          # sign and POST one CMS event
  syndicate status                   # queues, workers, channels, dead letters
  syndicate check                    # prove Redis, the broker, each network and hub work
  syndicate init .env                # an owner-only .env with fresh secrets and every setting
  syndicate purge ARTICLE_ID         # a legal takedown, carried out by the service

\b
"""
    + _VARIABLES
)
@click.version_option(__version__, prog_name="syndicate")
@click.option("--log-json", is_flag=True, help="log JSON lines (with event and article ids)")
def main(log_json: bool) -> None:
    """syndicate: CMS events in; RSS, Atom, JSON feeds, WebSub pings and social posts out."""
    OPTIONS["log_json"] = log_json
