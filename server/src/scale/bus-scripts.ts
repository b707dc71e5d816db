/**
 * The room bus's Lua scripts. Trimming happens only here, and each script records the highest id
 * it removed in the room's "trimmed" marker key: a reader whose last seen id is below the marker
 * has missed entries and must resync from storage. (XINFO's max-deleted-entry-id cannot serve:
 * Redis 7.0 updates it on XDEL only, not on XTRIM.)
 */

/** Shared Lua helpers: stream id comparison and "keep the larger id in a key". */
const LUA_IDS = `
local function parse(id)
  local ms, seq = string.match(id, '^(%d+)-(%d+)$')
  return tonumber(ms), tonumber(seq)
end
local function greater(a, b)
  local am, as = parse(a)
  local bm, bs = parse(b)
  if am ~= bm then return am > bm end
  return as > bs
end
local function setmax(key, id)
  local cur = redis.call('GET', key)
  if (not cur) or greater(id, cur) then redis.call('SET', key, id) end
end
`;

/**
 * XADD, then, past `cap` entries, an exact trim to `cap` recording the last id it removed.
 * KEYS: stream, marker. ARGV: cap, then field/value pairs.
 */
export const PUBLISH_LUA = `${LUA_IDS}
local id = redis.call('XADD', KEYS[1], '*', unpack(ARGV, 2))
local cap = tonumber(ARGV[1])
local len = redis.call('XLEN', KEYS[1])
if len > cap then
  local old = redis.call('XRANGE', KEYS[1], '-', '+', 'COUNT', len - cap)
  redis.call('XTRIM', KEYS[1], 'MAXLEN', cap)
  setmax(KEYS[2], old[#old][1])
end
return id`;

/**
 * "Trim once stored": removes entries up to and including the stored id, but none younger than
 * `graceMs` by the Redis clock, so a connected reader (at most a batch behind) is never trimmed
 * past. KEYS: stream, marker. ARGV: stored id, graceMs. Returns the number of entries removed.
 */
export const TRIM_STORED_LUA = `${LUA_IDS}
local sms, sseq = parse(ARGV[1])
local t = redis.call('TIME')
local bound = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) - tonumber(ARGV[2])
local minid
if sms < bound then minid = string.format('%d-%d', sms, sseq + 1) else minid = string.format('%d-0', bound) end
local last = redis.call('XREVRANGE', KEYS[1], '(' .. minid, '-', 'COUNT', 1)
if #last == 0 then return 0 end
local removed = redis.call('XTRIM', KEYS[1], 'MINID', minid)
setmax(KEYS[2], last[1][1])
return removed`;
