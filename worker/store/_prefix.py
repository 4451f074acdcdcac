"""The prefix every key shares, so `redis-cli --scan --pattern 'syn:*'` finds them all."""

from typing import Any

PREFIX = "syn:"

# redis-py annotates every reply as a union (bytes | str | list | ...) whatever the client's
# `decode_responses`; ours is off, so replies are bytes, and the repositories hold the client as
# `Client` (Any) rather than narrowing each reply by hand.
Client = Any
