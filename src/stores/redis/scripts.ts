import { createHash } from 'node:crypto';

// The Lua the store runs server-side. Each is sent by SHA (EVALSHA) and re-sent whole only when the server
// does not know it; the index scripts keep an entry and its prefix-index member in step (see prefix-index.ts).

/**
 * replaceIf: KEYS[1] the key, ARGV[1] the bytes its value must start with, ARGV[2] the new value (may be
 * empty), ARGV[3] the TTL in ms ('0' removes the key). Returns 1 when it replaced, 0 when the key held something else.
 * The script knows no entry layout: the core's lease fence sends an entry's fixed header as ARGV[1]
 * (`identityOf` in entry.ts, ENTRY_HEADER_BYTES long), and test/entry.test.ts checks that round trip.
 */
const REPLACE_IF = `
local current = redis.call('GET', KEYS[1])
if not current or string.sub(current, 1, #ARGV[1]) ~= ARGV[1] then return 0 end
if ARGV[3] == '0' then redis.call('UNLINK', KEYS[1]) else redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3]) end
return 1
`;


export interface LuaScript {
  readonly source: string;
  readonly sha: string;
}

function lua(source: string): LuaScript {
  return { source, sha: createHash('sha1').update(source).digest('hex') };
}

export const REPLACE_IF_SCRIPT = lua(REPLACE_IF);

/**
 * addOrGet: KEYS[1] the key, ARGV[1] the value, ARGV[2] the TTL in ms. The live value when there is one
 * (unchanged), else stores ARGV[1] and returns nil: `add` and `get` in one step (a claim and the read it replaces).
 */
export const ADD_OR_GET_SCRIPT = lua(`local current = redis.call('GET', KEYS[1])
if current then return current end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return false`);

/**
 * KEYS: index, key. ARGV: member, value, ttl ms, '1' for NX. The member goes in first (if SET then fails, it
 * is harmless), and only into an index that exists: a missing one is rebuilt before it is used.
 */
export const WRITE_SCRIPT = lua(`if redis.call('EXISTS', KEYS[1]) == 1 then redis.call('ZADD', KEYS[1], 0, ARGV[1]) end
if ARGV[4] == '1' then return redis.call('SET', KEYS[2], ARGV[2], 'PX', ARGV[3], 'NX') end
return redis.call('SET', KEYS[2], ARGV[2], 'PX', ARGV[3])`);
/**
 * KEYS: index, key1..keyN. ARGV: member, value, ttl ms for each key, in order; an empty ttl removes the key.
 * Entry by entry, so the last write of a key wins; an error stops the script before the SET of its entry.
 */
export const WRITE_MANY_SCRIPT = lua(`local indexed = redis.call('EXISTS', KEYS[1]) == 1
for i = 2, #KEYS do
  local at = (i - 2) * 3
  if ARGV[at + 3] == '' then
    redis.call('UNLINK', KEYS[i])
    if indexed then redis.call('ZREM', KEYS[1], ARGV[at + 1]) end
  else
    if indexed then redis.call('ZADD', KEYS[1], 0, ARGV[at + 1]) end
    redis.call('SET', KEYS[i], ARGV[at + 2], 'PX', ARGV[at + 3])
  end
end
return #KEYS - 1`);
/** ADD_OR_GET_SCRIPT for a key the prefix index covers. KEYS: index, key. ARGV: member, value, ttl ms. */
export const ADD_OR_GET_INDEXED_SCRIPT = lua(`local current = redis.call('GET', KEYS[2])
if current then return current end
if redis.call('EXISTS', KEYS[1]) == 1 then redis.call('ZADD', KEYS[1], 0, ARGV[1]) end
redis.call('SET', KEYS[2], ARGV[2], 'PX', ARGV[3])
return false`);
/** KEYS: index. ARGV: members. Adds them, but never creates the index (see WRITE_SCRIPT). */
export const INDEX_ADD_SCRIPT = lua(`if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
local args = {}
for i = 1, #ARGV do
  args[2 * i - 1] = 0
  args[2 * i] = ARGV[i]
end
return redis.call('ZADD', KEYS[1], unpack(args))`);
/** KEYS: index, key. ARGV: member. Returns what UNLINK removed. */
export const DELETE_SCRIPT = lua(`local removed = redis.call('UNLINK', KEYS[2])
redis.call('ZREM', KEYS[1], ARGV[1])
return removed`);
/*
 * The two scripts below run only where the index and every key share a slot (standalone, or a prefix with a
 * hash tag), and build the keys they touch from members (prefix .. member) rather than receive them: shipping
 * every member to the client and back doubled the round trips and bytes of a step. Both return
 * {members seen, count, last member}.
 */
/**
 * One deletePrefix step. KEYS: index. ARGV: key prefix, range start, range end, limit, the certificate. -1 when
 * the index is not certified. ZREMRANGEBYLEX drops exactly the members read: nothing can join them meanwhile.
 */
export const DELETE_PREFIX_SCRIPT = lua(`if not redis.call('ZSCORE', KEYS[1], ARGV[5]) then return {-1, 0, ''} end
local members = redis.call('ZRANGEBYLEX', KEYS[1], ARGV[2], ARGV[3], 'LIMIT', 0, ARGV[4])
if #members == 0 then return {0, 0, ''} end
local keys = {}
for i = 1, #members do keys[i] = ARGV[1] .. members[i] end
local removed = redis.call('UNLINK', unpack(keys))
redis.call('ZREMRANGEBYLEX', KEYS[1], '[' .. members[1], '[' .. members[#members])
return {#members, removed, members[#members]}`);
/** One sweep step. KEYS: index. ARGV: key prefix, range start, limit. Removes the members whose key is gone. */
export const SWEEP_SCRIPT = lua(`local members = redis.call('ZRANGEBYLEX', KEYS[1], ARGV[2], '(\\255', 'LIMIT', 0, ARGV[3])
local removed = 0
for i = 1, #members do
  if redis.call('EXISTS', ARGV[1] .. members[i]) == 0 then removed = removed + redis.call('ZREM', KEYS[1], members[i]) end
end
return {#members, removed, members[#members] or ''}`);
/** KEYS: index. ARGV: this rebuild's marker, the certificate. Certifies only if the marker survived (index not dropped). */
export const CERTIFY_SCRIPT = lua(`if redis.call('ZSCORE', KEYS[1], ARGV[1]) then
  redis.call('ZREM', KEYS[1], ARGV[1])
  redis.call('ZADD', KEYS[1], 0, ARGV[2])
  return 1
end
return 0`);

/**
 * addMember: KEYS[1] the member index (a sorted set scored by deadline), ARGV[1] the deadline, ARGV[2] the
 * member, ARGV[3] now (the store's clock). Drops the members whose deadline has passed, and makes the set
 * expire with its last member, so an index nobody writes any more goes by itself.
 */
export const ADD_MEMBER_SCRIPT = lua(`redis.call('ZADD', KEYS[1], ARGV[1], ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[3])
local last = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')
if last[2] then redis.call('PEXPIRE', KEYS[1], math.max(1, math.ceil(tonumber(last[2]) - tonumber(ARGV[3])))) end
return 1`);
/** members: KEYS[1] the member index, ARGV[1] now, ARGV[2] the most members returned. Drops expired members first. */
export const MEMBERS_SCRIPT = lua(`redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
return redis.call('ZRANGE', KEYS[1], 0, tonumber(ARGV[2]) - 1)`);
