"""The Lua scripts that change limiter and breaker state inside Redis, one atomic step each.

Time is the server's (``TIME``), so hosts whose clocks disagree still share one clock. The
keys of one scope carry it as a hash tag (``{provider:openai}``), so the scripts that touch
both of a scope's keys also run on a Redis Cluster.

Keys (``<p>`` is ``key_prefix``, ``<scope>`` ``provider:<name>`` or ``model:<alias>``):

``<p>:bucket:{<scope>}``  hash: ``r`` requests left, ``k`` tokens left (below zero: owed to
    reservations already made), ``t`` when they were computed, ``p`` paused until (seconds).
    It expires once the buckets would be full again: an absent key is a full bucket.
``<p>:leases:{<scope>}``  sorted set: one member per slot in flight (a random id), scored by
    the lease's expiry in milliseconds; expired members are removed before each count.
``<p>:circuit:<provider>``  hash: ``s`` state, ``f`` failures in a row, ``o`` opened at,
    ``l`` last failure (a status or error kind, such as ``503`` or ``read timeout``), ``q`` the
    probe's turn expires at.

Waits come back as whole microseconds (Lua numbers become integers in replies).
"""

from __future__ import annotations

import hashlib

__all__ = ["ADMIT", "CIRCUIT_ENTER", "CIRCUIT_REPORT", "FINISH", "GIVE_BACK", "LEASE_ACQUIRE",
           "LEASE_RELEASE", "PENALIZE", "RESERVE", "SETTLE", "Script"]


class Script:
    """A script's text and its SHA1 (what ``EVALSHA`` names it by)."""

    __slots__ = ("name", "sha", "text")

    def __init__(self, name: str, text: str) -> None:
        self.name = name
        self.text = text
        self.sha = hashlib.sha1(text.encode()).hexdigest()

    def __repr__(self) -> str:
        return f"<Script {self.name} {self.sha[:8]}>"


_NOW = """
local clock = redis.call('TIME')
local now = tonumber(clock[1]) + tonumber(clock[2]) / 1000000
"""

# ARGV[1] requests per minute, ARGV[2] tokens per minute (0: no such limit).
_BUCKET = _NOW + """
local key = KEYS[1]
local rpm = tonumber(ARGV[1])
local tpm = tonumber(ARGV[2])
local v = redis.call('HMGET', key, 'r', 'k', 't', 'p')
local r = tonumber(v[1]) or rpm
local k = tonumber(v[2]) or tpm
local elapsed = now - (tonumber(v[3]) or now)
local p = tonumber(v[4]) or 0
if elapsed > 0 then
  r = r + elapsed * rpm / 60
  k = k + elapsed * tpm / 60
end
r = math.min(r, rpm)
k = math.min(k, tpm)

local function save()
  local ttl = math.max(p - now, 0)
  if rpm > 0 then ttl = math.max(ttl, (rpm - r) * 60 / rpm) end
  if tpm > 0 then ttl = math.max(ttl, (tpm - k) * 60 / tpm) end
  redis.call('HSET', key, 'r', r, 'k', k, 't', now, 'p', p)
  redis.call('PEXPIRE', key, math.ceil(ttl * 1000) + 1000)
end
"""

#: Reserve one request and ARGV[3] tokens; returns the wait in microseconds.
RESERVE = Script("reserve", _BUCKET + """
local wait = 0
if rpm > 0 then
  r = r - math.min(1, rpm)
  if r < 0 then wait = -r * 60 / rpm end
end
if tpm > 0 then
  k = k - math.min(tonumber(ARGV[3]), tpm)
  if k < 0 then wait = math.max(wait, -k * 60 / tpm) end
end
wait = math.max(wait, p - now)
save()
return math.ceil(wait * 1000000)
""")

#: Give back one request and ARGV[3] tokens not used.
GIVE_BACK = Script("give_back", _BUCKET + """
if rpm > 0 then r = math.min(rpm, r + math.min(1, rpm)) end
if tpm > 0 then k = math.min(tpm, k + math.min(tonumber(ARGV[3]), tpm)) end
save()
return 0
""")

#: Take ARGV[3] more tokens (negative: give back) after the answer reported its usage.
SETTLE = Script("settle", _BUCKET + """
if tpm > 0 then k = math.min(tpm, k - tonumber(ARGV[3])) end
save()
return 0
""")

#: Grant nothing for ARGV[3] seconds, then refill from empty.
PENALIZE = Script("penalize", _BUCKET + """
p = math.max(p, now + tonumber(ARGV[3]))
r = math.min(r, 0)
k = math.min(k, 0)
save()
return 0
""")

_LEASE = """
local function lease(key, slots, id, ms)
  local now_ms = now * 1000
  redis.call('ZREMRANGEBYSCORE', key, '-inf', now_ms)
  if redis.call('ZSCORE', key, id) then return 0 end
  if redis.call('ZCARD', key) < slots then
    redis.call('ZADD', key, now_ms + ms, id)
    local last = redis.call('ZRANGE', key, -1, -1, 'WITHSCORES')
    redis.call('PEXPIREAT', key, math.ceil(tonumber(last[2])) + 1000)
    return 0
  end
  local first = redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')
  return math.max(1, math.ceil((tonumber(first[2]) - now_ms) * 1000))
end
"""

#: KEYS[1] the leases; ARGV[1] slots, ARGV[2] lease id, ARGV[3] lease milliseconds: 0 when
#: held, else the microseconds until the earliest lease expires.
LEASE_ACQUIRE = Script("lease_acquire", _NOW + _LEASE + """
return lease(KEYS[1], tonumber(ARGV[1]), ARGV[2], tonumber(ARGV[3]))
""")

#: One round trip for the common case of a call: RESERVE on KEYS[1] (ARGV[1..3]) and, when
#: nothing has to wait, LEASE_ACQUIRE on KEYS[2] (ARGV[4..6]; ARGV[4] = 0: no slot to take).
#: Returns {reserve's wait, lease's wait (-1: not tried)}.
ADMIT = Script("admit", _BUCKET + _LEASE + """
local wait = 0
if rpm > 0 then
  r = r - math.min(1, rpm)
  if r < 0 then wait = -r * 60 / rpm end
end
if tpm > 0 then
  k = k - math.min(tonumber(ARGV[3]), tpm)
  if k < 0 then wait = math.max(wait, -k * 60 / tpm) end
end
wait = math.max(wait, p - now)
save()
local slot = -1
if wait <= 0 and tonumber(ARGV[4]) > 0 then
  slot = lease(KEYS[2], tonumber(ARGV[4]), ARGV[5], tonumber(ARGV[6]))
end
return {math.ceil(wait * 1000000), slot}
""")

#: One round trip at the end of a call: SETTLE ARGV[3] tokens on KEYS[1] (ARGV[1..3]; 0: none)
#: and free lease ARGV[4] in KEYS[2] (empty: none).
FINISH = Script("finish", _BUCKET + """
local delta = tonumber(ARGV[3])
if tpm > 0 and delta ~= 0 then
  k = math.min(tpm, k - delta)
  save()
end
if ARGV[4] ~= '' then redis.call('ZREM', KEYS[2], ARGV[4]) end
return 0
""")

#: Free the slot of lease ARGV[1].
LEASE_RELEASE = Script("lease_release", """
return redis.call('ZREM', KEYS[1], ARGV[1])
""")

_CIRCUIT = _NOW + """
local key = KEYS[1]
local v = redis.call('HMGET', key, 's', 'f', 'o', 'l', 'q')
local state = v[1] or 'closed'
local failures = tonumber(v[2]) or 0
local opened = tonumber(v[3]) or now
local last = v[4] or ''
local probe_until = tonumber(v[5]) or 0
local keep_ms = 3600000
"""

#: ARGV[1] cool-down seconds, ARGV[2] a probe's turn in seconds. Returns
#: {allowed, probe, state, retry_in_us, failures, last_failure, previous_state_or_''}.
CIRCUIT_ENTER = Script("circuit_enter", _CIRCUIT + """
if state == 'closed' then return {1, 0, state, 0, failures, last, ''} end
local retry_at = opened + tonumber(ARGV[1])
local wait = math.max(0, math.ceil((retry_at - now) * 1000000))
if now >= retry_at and probe_until <= now then
  redis.call('HSET', key, 's', 'half_open', 'q', now + tonumber(ARGV[2]))
  redis.call('PEXPIRE', key, keep_ms)
  local previous = ''
  if state ~= 'half_open' then previous = state end
  return {1, 1, 'half_open', 0, failures, last, previous}
end
return {0, 0, state, wait, failures, last, ''}
""")

#: ARGV[1] outcome (success, failure, abandon), ARGV[2] 1 for the probe, ARGV[3] the failure's
#: reason, ARGV[4] failures in a row that open the circuit. Returns {previous, new} or {}.
CIRCUIT_REPORT = Script("circuit_report", _CIRCUIT + """
local outcome = ARGV[1]
local probe = ARGV[2] == '1'
if outcome == 'abandon' then
  if probe then redis.call('HSET', key, 'q', 0) end
  return {}
end
if outcome == 'success' then
  if state == 'closed' then
    if failures > 0 then redis.call('DEL', key) end
    return {}
  end
  redis.call('DEL', key)
  return {state, 'closed'}
end
failures = failures + 1
redis.call('HSET', key, 'f', failures, 'l', ARGV[3])
if probe then redis.call('HSET', key, 'q', 0) end
redis.call('PEXPIRE', key, keep_ms)
if probe or (state == 'closed' and failures >= tonumber(ARGV[4])) then
  redis.call('HSET', key, 's', 'open', 'o', now)
  if state ~= 'open' then return {state, 'open'} end
end
return {}
""")

ALL = (RESERVE, GIVE_BACK, SETTLE, PENALIZE, LEASE_ACQUIRE, LEASE_RELEASE, ADMIT, FINISH,
       CIRCUIT_ENTER, CIRCUIT_REPORT)
