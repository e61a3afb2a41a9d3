"""The Lua scripts: the few read-decide-write steps that must be atomic across workers."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Final

# --------------------------------------------------------------------------------------------
# Lua: the few read-decide-write steps that must be atomic across workers.
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Script:
    text: str
    sha: str

    @classmethod
    def of(cls, text: str) -> _Script:
        return cls(text, hashlib.sha1(text.encode()).hexdigest())


#: KEYS cur, gens, size; ARGV gen, size. Make `gen` current unless it was reaped meanwhile;
#: retire the old generation (score 0 = reap at once). Returns {1, old} or {0}.
_FLIP: Final = _Script.of("""
if not redis.call('ZSCORE', KEYS[2], ARGV[1]) then return {0} end
local old = redis.call('GET', KEYS[1]) or '0'
redis.call('SET', KEYS[1], ARGV[1])
redis.call('SET', KEYS[3], ARGV[2])
redis.call('ZREM', KEYS[2], ARGV[1])
if old ~= ARGV[1] then redis.call('ZADD', KEYS[2], 0, old) end
return {1, old}
""")

#: KEYS case; ARGV at_ms, span_ms, local date, expire-at ms. A rolling n-hour interval
#: opened by the first violation: sightings within `span` of it join its case. Returns
#: {first (0/1), case date}.
_ROLLING_CASE: Final = _Script.of("""
local at = tonumber(ARGV[1])
local span = tonumber(ARGV[2])
local cur = redis.call('GET', KEYS[1])
if cur then
  local sep = string.find(cur, '|', 1, true)
  local sep2 = string.find(cur, '|', sep + 1, true)
  local t0 = tonumber(string.sub(cur, 1, sep - 1))
  local day = string.sub(cur, sep + 1, sep2 - 1)
  local opener = string.sub(cur, sep2 + 1)
  if at > t0 - span and at < t0 + span then
    if ARGV[5] ~= '' and opener == ARGV[5] then return {1, day} end
    return {0, day}
  end
  if at < t0 then return {1, ARGV[3]} end
end
redis.call('SET', KEYS[1], ARGV[1] .. '|' .. ARGV[3] .. '|' .. ARGV[5], 'PXAT', ARGV[4])
return {1, ARGV[3]}
""")

#: KEYS permit-day set; ARGV day, max, expire-at s. Returns {count, consumed, refused}.
_DAY_PERMIT: Final = _Script.of("""
if redis.call('SISMEMBER', KEYS[1], ARGV[1]) == 1 then
  return {redis.call('SCARD', KEYS[1]), 0, 0}
end
local n = redis.call('SCARD', KEYS[1])
if n >= tonumber(ARGV[2]) then return {n, 0, 1} end
redis.call('SADD', KEYS[1], ARGV[1])
redis.call('EXPIREAT', KEYS[1], ARGV[3])
return {n + 1, 1, 0}
""")
