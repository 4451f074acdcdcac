"""The prefix every key shares, so `redis-cli --scan --pattern 'syn:*'` finds them all."""

from typing import Any

PREFIX = "syn:"


def part(value: str) -> str:
    """An id as one part of a key: `:` (the separator) and `%` are percent-encoded, so an
    article id ending in `:events` or `:rendered` can never name another article's keys. Ids
    without either character (nearly all) are written as they are."""
    return value.replace("%", "%25").replace(":", "%3A")


# The same in Lua, for scripts that build keys from ids they read.
LUA_PART = """
local function part(s)
  return (string.gsub(string.gsub(s, '%%', '%%25'), ':', '%%3A'))
end
"""

# redis-py annotates every reply as a union (bytes | str | list | ...) whatever the client's
# `decode_responses`; ours is off, so replies are bytes, and the repositories hold the client as
# `Client` (Any) rather than narrowing each reply by hand.
Client = Any


def eval_in(pipe: Any, script: str, keys: list[str], args: list[Any]) -> None:
    """Queue a Lua script inside a pipeline or transaction by its text (EVAL). redis-py's
    registered scripts ask `SCRIPT EXISTS` before every such pipeline: one more round trip per
    event on the hot path. The text costs a few kB on the wire and Redis caches it compiled."""
    pipe.eval(script, len(keys), *keys, *args)
