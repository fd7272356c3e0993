-- Several token buckets taken at once, partially: a transcription of ratelimit/model.py
-- `take_chain`, on Redis's own clock.
--
-- KEYS[i]        the buckets (hashes: tokens, ts)
-- ARGV[1]        tokens wanted (>= 1)
-- ARGV[2i], ARGV[2i+1]   rate (tokens/s) and capacity of KEYS[i]
--
-- Grants as many whole tokens as the emptiest bucket holds, up to the tokens wanted, from
-- every bucket. Returns {granted, retry_after, now_us}, the floats as "%.17g" strings.
-- TIME is called before any write (safe with effect replication).

local tokens = tonumber(ARGV[1])
local time = redis.call('TIME')
local now_us = tonumber(time[1]) * 1000000 + tonumber(time[2])

local available = {}
local granted = tokens
for i = 1, #KEYS do
  local rate = tonumber(ARGV[2 * i])
  local capacity = tonumber(ARGV[2 * i + 1])
  local tokens_there = capacity
  local state = redis.call('HMGET', KEYS[i], 'tokens', 'ts')
  if state[1] and state[2] then
    -- A clock that steps back (failover to another host) refills nothing, never drains.
    local elapsed_us = math.max(0, now_us - tonumber(state[2]))
    tokens_there = math.min(capacity, tonumber(state[1]) + elapsed_us * rate / 1000000)
  end
  available[i] = tokens_there
  granted = math.min(granted, math.floor(tokens_there))
end

local retry_after = 0
for i = 1, #KEYS do
  local rate = tonumber(ARGV[2 * i])
  local capacity = tonumber(ARGV[2 * i + 1])
  local left = available[i] - granted
  if granted < tokens then
    local wanted = math.min(tokens - granted, capacity)
    retry_after = math.max(retry_after, (wanted - left) / rate)
  end
  redis.call('HSET', KEYS[i], 'tokens', string.format('%.17g', left), 'ts', string.format('%.0f', now_us))
  -- Once idle this long the bucket is full again, so expiry never changes a decision.
  redis.call('PEXPIRE', KEYS[i], math.ceil(capacity / rate * 1000) + 1000)
end

return {granted, string.format('%.17g', retry_after), string.format('%.0f', now_us)}
