"""The Lua scripts of the articles' repository, each one step on the server: an article joining
its feeds, everything a render reads (one round trip), when articles first went live in a feed.
`Articles` (worker/store/articles.py) owns the keys and runs these; each script names the keys
it takes (KEYS) and its arguments (ARGV).
"""

from worker.store._prefix import LUA_PART

# Join feeds in one command. KEYS: pairs of (items, deleted); ARGV: article id, score, cap.
JOIN = """
for i = 1, #KEYS, 2 do
  redis.call('ZADD', KEYS[i], ARGV[2], ARGV[1])
  redis.call('ZREMRANGEBYRANK', KEYS[i], 0, -tonumber(ARGV[3]) - 1)
  redis.call('ZREM', KEYS[i + 1], ARGV[1])
end
return 1
"""


# Everything a render reads, in one round trip (one reply to parse, not one per article).
# KEYS: the feed's version counter, its items, its retractions. ARGV: limit, retractions older
# than this (epoch s) are dropped, the article key prefix. Returns {version, ids, docs, deleted
# (id, score, ...)}; a doc that is gone comes back false. Article keys are derived here, so this
# needs a single Redis (standalone or Sentinel), never Redis Cluster.
FOR_RENDER = (
    LUA_PART
    + """
local ids = redis.call('ZREVRANGE', KEYS[2], 0, tonumber(ARGV[1]) - 1)
local docs = {}
for i, id in ipairs(ids) do
  docs[i] = redis.call('HGET', ARGV[3] .. part(id), 'doc')
end
redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', ARGV[2])
local deleted = redis.call('ZREVRANGE', KEYS[3], 0, 99, 'WITHSCORES')
return {redis.call('GET', KEYS[1]) or '0', ids, docs, deleted}
"""
)

# First time in a feed's bytes, per article: ARGV: feed key, when, the rendered-key prefix, then
# the article ids. HSETNX keeps the first.
MARK_RENDERED = (
    LUA_PART
    + """
for i = 4, #ARGV do
  redis.call('HSETNX', ARGV[3] .. part(ARGV[i]) .. ':rendered', ARGV[1], ARGV[2])
end
"""
)
