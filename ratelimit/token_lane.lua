-- A carrier's bucket taken by one traffic lane, paced and work-conserving: a transcription
-- of ratelimit/model.py `take_lane`, on Redis's own clock.
--
-- KEYS[1]  the bucket (a hash: tokens, ts)      KEYS[2]  the carrier's pace (a hash: factor, ts)
-- ARGV[1]  rate, tokens/s at full pace          ARGV[2]  capacity, tokens
-- ARGV[3]  floor: tokens this lane must leave   ARGV[4]  pace recovered per second
-- ARGV[5]  tokens wanted (>= 1)               ARGV[6]  tokens it may book ahead of the refill
-- ARGV[7]  yield_us: > 0 for a lane that yields that long to a refused priority lane
--          (the bucket's `wanted` field: when priority traffic was last refused)
-- ARGV[8]  "1" for a whole take: all `tokens` or none
--
-- Returns {granted, retry_after, paced_rate, now_us, due_in}, the floats as "%.17g" strings.
-- TIME is called before any write (safe with effect replication).

local rate = tonumber(ARGV[1])
local capacity = tonumber(ARGV[2])
local floor = tonumber(ARGV[3])
local recover = tonumber(ARGV[4])
local tokens = tonumber(ARGV[5])
local ahead = tonumber(ARGV[6])
local yield_us = tonumber(ARGV[7])
local whole = ARGV[8] == '1'

local time = redis.call('TIME')
local now_us = tonumber(time[1]) * 1000000 + tonumber(time[2])

local pace = 1
local pace_state = redis.call('HMGET', KEYS[2], 'factor', 'ts')
if pace_state[1] and pace_state[2] then
  local elapsed_us = math.max(0, now_us - tonumber(pace_state[2]))
  pace = math.min(1, tonumber(pace_state[1]) + elapsed_us * recover / 1000000)
end
local paced = rate * pace

local available = capacity
local state = redis.call('HMGET', KEYS[1], 'tokens', 'ts', 'wanted')
if state[1] and state[2] then
  -- A clock that steps back (failover to another host) refills nothing, never drains.
  local elapsed_us = math.max(0, now_us - tonumber(state[2]))
  available = math.min(capacity, tonumber(state[1]) + elapsed_us * paced / 1000000)
end
local wanted_us = nil
if state[1] and state[2] and state[3] then
  wanted_us = tonumber(state[3])
end
local yielding = yield_us > 0 and wanted_us and now_us - wanted_us < yield_us
if yielding then
  floor = math.max(capacity - 1, 1)
  ahead = 0
end

local granted = math.min(tokens, math.max(0, math.floor(available - floor + ahead)))
if whole and granted < tokens then
  granted = 0
end
local left = available - granted
local retry_after = 0
if granted < tokens then
  local wanted = math.min(tokens - granted, math.max(0, capacity - floor + ahead))
  retry_after = math.max(0, (wanted + floor - ahead - left) / paced)
  if yielding then
    -- ask again a token after the priority lane's token exists, not once above the yield floor
    retry_after = math.min(retry_after, math.max(0, (2 - left) / paced))
    if floor > capacity - 1 then
      -- a bucket of one: ask again after the priority lane's turn
      retry_after = math.max(retry_after, 1 / paced)
    end
  end
end
local due_in = 0
if granted > 0 then
  -- due when the bucket is back at capacity - 1: every grant on one schedule 1/paced apart
  due_in = math.max(0, capacity - 1 - left) / paced
end

-- a priority lane: refused, it marks the bucket; served, it clears the mark
if yield_us == 0 then
  if granted < tokens then
    wanted_us = now_us
  else
    wanted_us = nil
  end
end
redis.call('HSET', KEYS[1], 'tokens', string.format('%.17g', left), 'ts', string.format('%.0f', now_us))
if wanted_us then
  redis.call('HSET', KEYS[1], 'wanted', string.format('%.0f', wanted_us))
else
  redis.call('HDEL', KEYS[1], 'wanted')
end
-- Once idle this long the bucket is full again, so expiry never changes a decision.
redis.call('PEXPIRE', KEYS[1], math.ceil(capacity / paced * 1000) + 1000)

return {granted, string.format('%.17g', retry_after), string.format('%.17g', paced), string.format('%.0f', now_us), string.format('%.17g', due_in)}
