-- One sender per carrier lane at a time, on Redis's own clock: a transcription of
-- ratelimit/sender_lease.py `hold_tenure` / `release_tenure`.
--
-- KEYS[1]  the lane's tenure (a hash: holder, until, free_at; µs)
-- ARGV[1]  "hold" | "release"       ARGV[2]  holder id
-- ARGV[3]  ttl, µs                  ARGV[4]  guard, µs (gap before the next holder's first PDU)
--
-- hold returns {held (1/0), start_us, until_us, now_us}: held, the holder may send from start
-- to until; not held, `until` is when the current holder's tenure ends unless renewed.
-- release returns {1, free_at, 0, now_us} when it held, {0, 0, 0, now_us} otherwise.

local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000000 + tonumber(time[2])
local op, me = ARGV[1], ARGV[2]
local ttl, guard = tonumber(ARGV[3]), tonumber(ARGV[4])

local state = redis.call('HMGET', KEYS[1], 'holder', 'until', 'free_at')
local holder = state[1] or ''
local till = tonumber(state[2] or '0')
local free_at = tonumber(state[3] or '0')

if op == 'release' then
  if holder ~= me then
    return {0, '0', '0', string.format('%.0f', now)}
  end
  free_at = now + guard
  redis.call('HSET', KEYS[1], 'holder', '', 'until', '0', 'free_at', string.format('%.0f', free_at))
  redis.call('PEXPIRE', KEYS[1], math.ceil(guard / 1000) + 1000)
  return {1, string.format('%.0f', free_at), '0', string.format('%.0f', now)}
end

if holder ~= '' and holder ~= me and till > now then
  return {0, string.format('%.0f', till), string.format('%.0f', till), string.format('%.0f', now)}
end
if holder ~= '' and holder ~= me then
  -- The holder stopped renewing (crashed, stalled): it sends nothing past its `until`.
  free_at = math.max(free_at, till + guard)
end
till = now + ttl
redis.call('HSET', KEYS[1], 'holder', me, 'until', string.format('%.0f', till),
  'free_at', string.format('%.0f', free_at))
-- Once every tenure is over and its guard passed, no key is the same as this one.
redis.call('PEXPIRE', KEYS[1], math.ceil((ttl + guard) / 1000) + 1000)
return {1, string.format('%.0f', math.max(now, free_at)), string.format('%.0f', till),
  string.format('%.0f', now)}
