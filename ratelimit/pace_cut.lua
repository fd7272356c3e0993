-- Multiplicative decrease of a carrier's pace on a throttle: a transcription of
-- ratelimit/model.py `cut_pace`, on Redis's own clock.
--
-- KEYS[1]  the pace (a hash: factor, ts)
-- ARGV[1]  pace recovered per second   ARGV[2]  cut (factor kept, < 1)
-- ARGV[3]  minimum factor              ARGV[4]  cooldown, microseconds
--
-- Returns {cut (1 or 0), factor, ts}, factor as "%.17g" and ts as "%.0f" strings.

local recover = tonumber(ARGV[1])
local cut = tonumber(ARGV[2])
local minimum = tonumber(ARGV[3])
local cooldown_us = tonumber(ARGV[4])

local time = redis.call('TIME')
local now_us = tonumber(time[1]) * 1000000 + tonumber(time[2])

local pace = 1
local state = redis.call('HMGET', KEYS[1], 'factor', 'ts')
if state[1] and state[2] then
  if now_us - tonumber(state[2]) < cooldown_us then
    return {0, state[1], state[2]}
  end
  local elapsed_us = math.max(0, now_us - tonumber(state[2]))
  pace = math.min(1, tonumber(state[1]) + elapsed_us * recover / 1000000)
end
local factor = math.max(minimum, pace * cut)
redis.call('HSET', KEYS[1], 'factor', string.format('%.17g', factor), 'ts', string.format('%.0f', now_us))
-- Once grown back to 1.0 the pace is the same as no pace: expiry never changes a decision.
redis.call('PEXPIRE', KEYS[1], math.ceil(math.max(0, 1 - factor) / recover * 1000) + 1000)
return {1, string.format('%.17g', factor), string.format('%.0f', now_us)}
