-- Token bucket on Redis's own clock: a transcription of ratelimit/model.py `take`.
--
-- KEYS[1]  the bucket (a hash: tokens, ts)
-- ARGV[1]  rate, tokens per second          ARGV[2]  capacity, tokens
-- ARGV[3]  tokens wanted (0 = read level)   ARGV[4]  "1" for a partial grant
--
-- Returns {granted, retry_after, tokens_left, now_us}, the floats as "%.17g" strings:
-- Redis turns a Lua number reply into an integer, and a number stored by HSET into "%.14g".
--
-- TIME is called before any write, so the script is safe with effect replication
-- (the default since Redis 5, the only mode since 7).

local rate = tonumber(ARGV[1])
local capacity = tonumber(ARGV[2])
local tokens = tonumber(ARGV[3])
local partial = ARGV[4] == '1'

local time = redis.call('TIME')
local now_us = tonumber(time[1]) * 1000000 + tonumber(time[2])

local available = capacity
local state = redis.call('HMGET', KEYS[1], 'tokens', 'ts')
if state[1] and state[2] then
  -- A clock that steps back (failover to another host) refills nothing, never drains.
  local elapsed_us = math.max(0, now_us - tonumber(state[2]))
  available = math.min(capacity, tonumber(state[1]) + elapsed_us * rate / 1000000)
end

local granted = 0
if partial then
  granted = math.min(tokens, math.floor(available))
elseif available >= tokens then
  granted = tokens
end
local left = available - granted

local retry_after = 0
if granted < tokens then
  if (not partial) and tokens > capacity then
    retry_after = math.huge
  else
    local wanted = tokens
    if partial then
      wanted = math.min(tokens - granted, capacity)
    end
    retry_after = (wanted - left) / rate
  end
end

if tokens > 0 then
  redis.call('HSET', KEYS[1], 'tokens', string.format('%.17g', left), 'ts', string.format('%.0f', now_us))
  -- Once idle this long the bucket is full again, so expiry never changes a decision.
  redis.call('PEXPIRE', KEYS[1], math.ceil(capacity / rate * 1000) + 1000)
end

return {granted, string.format('%.17g', retry_after), string.format('%.17g', left), string.format('%.0f', now_us)}
