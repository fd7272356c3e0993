-- Bind leases on Redis's own clock: at most `limit` live leases per carrier, cluster-wide.
--
-- KEYS[1]  the carrier's leases (a sorted set: member lease id, score expiry µs)
-- ARGV[1]  "acquire" | "renew" | "count"     ARGV[2]  lease id
-- ARGV[3]  limit                              ARGV[4]  lease time-to-live, µs
--
-- Returns 1 (held) or 0 (refused / lost) for acquire and renew, the live count for count.

local time = redis.call('TIME')
local now_us = tonumber(time[1]) * 1000000 + tonumber(time[2])

-- A lease whose expiry has come is gone: its holder stopped renewing (crashed or hung).
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', string.format('%.0f', now_us))

local op = ARGV[1]
if op == 'count' then
  return redis.call('ZCARD', KEYS[1])
end

local id = ARGV[2]
local held = redis.call('ZSCORE', KEYS[1], id)
if not held then
  if op == 'renew' or redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[3]) then
    return 0
  end
end

local ttl_us = tonumber(ARGV[4])
redis.call('ZADD', KEYS[1], string.format('%.0f', now_us + ttl_us), id)
-- The set lives as long as its longest lease (plus a second), never shorter.
local ttl_ms = math.ceil(ttl_us / 1000) + 1000
if redis.call('PTTL', KEYS[1]) < ttl_ms then
  redis.call('PEXPIRE', KEYS[1], ttl_ms)
end
return 1
