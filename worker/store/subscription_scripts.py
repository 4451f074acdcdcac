"""The Lua scripts that change our WebSub hub's state in one step each, so a bound is never
overrun by two requests at once and a crash never leaves half a change: a request within the
bounds, its verification (or unsubscription), a removal, a delivery's outcome, a lock's release.
`Subscriptions` (worker/store/subscriptions.py) owns the keys and runs these; each script names
the keys it takes (KEYS) and its arguments (ARGV) in the order it is called with.
"""

# KEYS: SUBS, INTENTS, HOSTS, intent. ARGV: sid, host, max_total, max_per_host, expires, then
# the intent's fields as name/value pairs. A request for a subscription neither verified nor
# pending must fit within the bounds; a new request replaces a pending one (its rid changes).
REQUEST = """
local active = redis.call('ZSCORE', KEYS[1], ARGV[1])
local pending = redis.call('ZSCORE', KEYS[2], ARGV[1])
if not active and not pending then
  if redis.call('ZCARD', KEYS[1]) + redis.call('ZCARD', KEYS[2]) >= tonumber(ARGV[3]) then
    return 'total'
  end
  local n = tonumber(redis.call('HGET', KEYS[3], 'a:' .. ARGV[2]) or '0')
          + tonumber(redis.call('HGET', KEYS[3], 'p:' .. ARGV[2]) or '0')
  if n >= tonumber(ARGV[4]) then return 'host' end
end
if not pending then redis.call('HINCRBY', KEYS[3], 'p:' .. ARGV[2], 1) end
redis.call('DEL', KEYS[4])
redis.call('HSET', KEYS[4], unpack(ARGV, 6))
redis.call('EXPIREAT', KEYS[4], math.ceil(tonumber(ARGV[5])) + 60)
redis.call('ZADD', KEYS[2], ARGV[5], ARGV[1])
return 'ok'
"""

# KEYS: SUBS, INTENTS, HOSTS, intent, sub, feed subs, TOPICS, FAILING, COUNTS, DEAD, REPLAYED.
# ARGV: sid, rid, verified (1/0), now, max_total. The pending request ends; if verified, it takes
# effect (an unsubscribe removes the subscription and its dead letter).
FINISH = """
if redis.call('HGET', KEYS[4], 'rid') ~= ARGV[2] then return 'superseded' end
local f = {}
local raw = redis.call('HGETALL', KEYS[4])
for i = 1, #raw, 2 do f[raw[i]] = raw[i + 1] end
redis.call('DEL', KEYS[4])
if redis.call('ZREM', KEYS[2], ARGV[1]) == 1 then
  if redis.call('HINCRBY', KEYS[3], 'p:' .. f.host, -1) <= 0 then
    redis.call('HDEL', KEYS[3], 'p:' .. f.host)
  end
end
if ARGV[3] ~= '1' then
  redis.call('HINCRBY', KEYS[9], 'verify_failed', 1)
  return 'failed'
end
local active = redis.call('ZSCORE', KEYS[1], ARGV[1])
if f.mode == 'unsubscribe' then
  if active then
    redis.call('ZREM', KEYS[1], ARGV[1])
    redis.call('ZREM', KEYS[6], ARGV[1])
    redis.call('ZREM', KEYS[8], ARGV[1])
    redis.call('ZREM', KEYS[10], 'hubdelivery:' .. ARGV[1])
    redis.call('HDEL', KEYS[11], 'hubdelivery:' .. ARGV[1])
    redis.call('DEL', KEYS[5])
    if redis.call('HINCRBY', KEYS[3], 'a:' .. f.host, -1) <= 0 then
      redis.call('HDEL', KEYS[3], 'a:' .. f.host)
    end
    if redis.call('HINCRBY', KEYS[7], f.topic, -1) <= 0 then redis.call('HDEL', KEYS[7], f.topic) end
  end
  redis.call('HINCRBY', KEYS[9], 'unsubscribed', 1)
  return 'unsubscribed'
end
if not active then
  if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[5]) then return 'full' end
  redis.call('HINCRBY', KEYS[3], 'a:' .. f.host, 1)
  redis.call('HINCRBY', KEYS[7], f.topic, 1)
end
local expires = tonumber(ARGV[4]) + tonumber(f.lease_s)
redis.call('ZADD', KEYS[1], expires, ARGV[1])
redis.call('ZADD', KEYS[6], expires, ARGV[1])
redis.call('HSET', KEYS[5], 'topic', f.topic, 'feed', f.feed, 'fmt', f.fmt, 'callback', f.callback,
           'host', f.host, 'origin', f.origin, 'lease_s', f.lease_s, 'expires_at', expires,
           'verified_at', ARGV[4])
if f.secret and f.secret ~= '' then
  redis.call('HSET', KEYS[5], 'secret', f.secret)
else
  redis.call('HDEL', KEYS[5], 'secret')
end
redis.call('HINCRBY', KEYS[9], 'verified', 1)
return 'subscribed'
"""

# KEYS: SUBS, HOSTS, sub, feed subs, TOPICS, FAILING, COUNTS, DEAD, REPLAYED. ARGV: sid,
# outcome, before (remove only if the lease ended before this; 'inf': whatever the lease).
REMOVE = """
local expires = redis.call('ZSCORE', KEYS[1], ARGV[1])
if not expires or tonumber(expires) > tonumber(ARGV[3]) then return 0 end
local host = redis.call('HGET', KEYS[3], 'host')
local topic = redis.call('HGET', KEYS[3], 'topic')
redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('ZREM', KEYS[4], ARGV[1])
redis.call('ZREM', KEYS[6], ARGV[1])
redis.call('ZREM', KEYS[8], 'hubdelivery:' .. ARGV[1])
redis.call('HDEL', KEYS[9], 'hubdelivery:' .. ARGV[1])
redis.call('DEL', KEYS[3])
if host and redis.call('HINCRBY', KEYS[2], 'a:' .. host, -1) <= 0 then
  redis.call('HDEL', KEYS[2], 'a:' .. host)
end
if topic and redis.call('HINCRBY', KEYS[5], topic, -1) <= 0 then redis.call('HDEL', KEYS[5], topic) end
redis.call('HINCRBY', KEYS[7], ARGV[2], 1)
return 1
"""

# KEYS: sub, FAILING, host, COUNTS, DEAD, REPLAYED. ARGV: sid, etag, now.
DELIVERED = """
redis.call('HINCRBY', KEYS[4], 'delivered', 1)
redis.call('DEL', KEYS[3])
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], 'delivered_etag', ARGV[2], 'delivered_at', ARGV[3], 'failures', 0)
redis.call('HDEL', KEYS[1], 'sending_etag', 'sending_at', 'last_error')
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('ZREM', KEYS[5], 'hubdelivery:' .. ARGV[1])
redis.call('HDEL', KEYS[6], 'hubdelivery:' .. ARGV[1])
return 1
"""

# KEYS: sub, host, FAILING, COUNTS. ARGV: sid, reason, now.
FAILED = """
redis.call('HINCRBY', KEYS[4], 'failed', 1)
local host = redis.call('HINCRBY', KEYS[2], 'failures', 1)
redis.call('EXPIRE', KEYS[2], 86400)
if redis.call('EXISTS', KEYS[1]) == 0 then return {0, host} end
redis.call('HSET', KEYS[1], 'last_error', ARGV[2])
redis.call('ZADD', KEYS[3], ARGV[3], ARGV[1])
return {redis.call('HINCRBY', KEYS[1], 'failures', 1), host}
"""

# KEYS: lock. ARGV: token. Releases the lock only if it is still ours.
UNLOCK = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""
