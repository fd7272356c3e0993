-- Sliding-window log on Redis's own clock: a transcription of ratelimit/window_model.py `hit`.
--
-- KEYS[1]  the window (a sorted set: member "<µs>:<seq>", score µs)
-- KEYS[2]  its sequence counter (keeps members unique within one microsecond)
-- ARGV[1]  limit, hits per window           ARGV[2]  window, µs
--
-- Returns {allowed (1/0), remaining, retry_after_us, now_us}, the big numbers as strings
-- (a Lua number reply becomes an integer, a number argument to redis.call a "%.17g" string).

local limit = tonumber(ARGV[1])
local span_us = tonumber(ARGV[2])

local time = redis.call('TIME')
local now_us = tonumber(time[1]) * 1000000 + tonumber(time[2])
local now = string.format('%.0f', now_us)

redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', string.format('%.0f', now_us - span_us))
local count = redis.call('ZCARD', KEYS[1])
local ttl_ms = math.ceil(span_us / 1000) + 1000

if count < limit then
  local seq = redis.call('INCR', KEYS[2])
  redis.call('ZADD', KEYS[1], now, now .. ':' .. seq)
  redis.call('PEXPIRE', KEYS[1], ttl_ms)
  redis.call('PEXPIRE', KEYS[2], ttl_ms)
  return {1, limit - count - 1, '0', now}
end

local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
local retry_us = tonumber(oldest[2]) + span_us - now_us
return {0, 0, string.format('%.0f', retry_us), now}
