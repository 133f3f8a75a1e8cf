/// The store's Lua scripts. Each runs atomically in Redis, so a session, its handle, its
/// user's index entry and its place in the expiry index change together or not at all.
///
/// Layout under the key prefix `P` (every key has a TTL, so a Redis with no Cloakroom attached
/// still forgets expired sessions):
///
/// | key | type | holds | expires |
/// |---|---|---|---|
/// | `P s:<hex>` | hash | `h` handle, `u` sub, `a` attributes JSON, `c` created ms, `l` last seen ms, `v` version | at the session's deadline |
/// | `P h:<handle>` | string | the session's `<hex>` | with the session |
/// | `P u:<sub>` | set | the `<hex>` of the user's sessions | with the user's last session |
/// | `P expiries` | sorted set | `<hex>` scored by deadline (ms) | with the last session |
///
/// `<hex>` is the session key (the SHA-256 of the ID) in hex; the ID itself is never stored.
/// Times are Unix milliseconds from the store's injected clock, passed in as `ARGV[2]`; the
/// deadline is `min(l + idle, c + absolute)`, and a session whose deadline is at or before
/// now is expired whatever Redis's own TTL says. Revocations are published on `P endings`.
///
/// Every script takes `ARGV[1..4]` = prefix, now, idle ms, absolute ms; the rest is per script.
/// Keys are computed inside the scripts from the prefix, which Redis Cluster would not allow:
/// the store needs a single Redis server (or a primary with replicas).
enum SessionScripts {
    /// Shared definitions, prepended to every script.
    static let prologue = """
        local P, now, idle, absolute = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
        local index = P .. 'expiries'
        local function deadline(c, l)
          local a, b = l + idle, c + absolute
          if a < b then return a end
          return b
        end
        -- Which deadline ended a session: 1 idle, 2 absolute.
        local function reason(c, l)
          if l + idle < c + absolute then return 1 end
          return 2
        end
        -- Makes `key` live at least until `at`.
        local function keepUntil(key, at)
          local t = redis.call('PEXPIRETIME', key)
          if t == -1 or (t >= 0 and t < at) then redis.call('PEXPIREAT', key, at) end
        end
        -- The session under `hex`, or nil. A record missing fields is not trusted: deleted.
        local function load(hex)
          local key = P .. 's:' .. hex
          local r = redis.call('HMGET', key, 'h', 'u', 'a', 'c', 'l')
          if not (r[1] or r[2] or r[3] or r[4] or r[5]) then return nil end
          local c, l = tonumber(r[4]), tonumber(r[5])
          if not (r[1] and r[2] and r[3] and c and l) then
            redis.call('DEL', key)
            return nil
          end
          return {h = r[1], u = r[2], a = r[3], c = c, l = l, cs = r[4], ls = r[5]}
        end
        local function remove(hex, s)
          redis.call('DEL', P .. 's:' .. hex, P .. 'h:' .. s.h)
          redis.call('SREM', P .. 'u:' .. s.u, hex)
          redis.call('ZREM', index, hex)
        end
        -- The live session under `hex`; else nil and what the script answers: false when
        -- there is none, 1 or 2 when it had expired (idle, absolute), after removing it.
        local function loadLive(hex)
          local s = load(hex)
          if not s then return nil, false end
          if now >= deadline(s.c, s.l) then
            remove(hex, s)
            return nil, reason(s.c, s.l)
          end
          return s
        end
        -- Ends the session under `hex`: 1 if it was live, -1 or -2 if it had expired (idle,
        -- absolute) and was only cleaned up, 0 if there was none.
        local function revoke(hex)
          local s = load(hex)
          if not s then return 0 end
          remove(hex, s)
          if now >= deadline(s.c, s.l) then return -reason(s.c, s.l) end
          return 1
        end

        """

    /// ARGV[5..8] = hex, handle, sub, attributes. Returns 1, or 0 when the handle is taken
    /// (the caller draws another). A session already under the key is replaced.
    static let create = RedisScript(name: "create", source: prologue + """
        local hex, handle, sub = ARGV[5], ARGV[6], ARGV[7]
        local expires = deadline(now, now)
        if not redis.call('SET', P .. 'h:' .. handle, hex, 'NX', 'PXAT', expires) then return 0 end
        local old = load(hex)
        if old then remove(hex, old) end
        local key = P .. 's:' .. hex
        redis.call('HSET', key, 'h', handle, 'u', sub, 'a', ARGV[8], 'c', ARGV[2], 'l', ARGV[2])
        redis.call('PEXPIREAT', key, expires)
        local user = P .. 'u:' .. sub
        -- A few entries of sessions Redis expired on its own are pruned on every login, so a
        -- user's index does not grow with them.
        for _, stale in ipairs(redis.call('SRANDMEMBER', user, 3)) do
          if redis.call('EXISTS', P .. 's:' .. stale) == 0 then redis.call('SREM', user, stale) end
        end
        redis.call('SADD', user, hex)
        keepUntil(user, expires)
        redis.call('ZADD', index, expires, hex)
        keepUntil(index, expires)
        return 1
        """)

    /// ARGV[5..6] = touch interval ms, hex. The request path: one call reads, checks expiry
    /// and, at most once per touch interval, moves `l` and every TTL. Returns nil when absent,
    /// 1 or 2 when expired (and deleted; idle or absolute), else {handle, attributes, c, l}.
    static let lookup = RedisScript(name: "lookup", source: prologue + """
        local touch, hex = tonumber(ARGV[5]), ARGV[6]
        local s, gone = loadLive(hex)
        if not s then return gone end
        local seen = s.ls
        if now - s.l >= touch then
          local expires = deadline(s.c, now)
          local key = P .. 's:' .. hex
          redis.call('HSET', key, 'l', ARGV[2])
          redis.call('PEXPIREAT', key, expires)
          redis.call('PEXPIREAT', P .. 'h:' .. s.h, expires)
          redis.call('ZADD', index, expires, hex)
          keepUntil(P .. 'u:' .. s.u, expires)
          keepUntil(index, expires)
          seen = ARGV[2]
        end
        return {s.h, s.a, s.cs, seen}
        """)

    /// ARGV[5] = hex. Like `lookup` without touching, plus `sub` and the attributes' version,
    /// for a merge patch: nil, 1 or 2 (expired), or {handle, sub, attributes, c, l, version}.
    static let read = RedisScript(name: "read", source: prologue + """
        local hex = ARGV[5]
        local s, gone = loadLive(hex)
        if not s then return gone end
        local version = redis.call('HGET', P .. 's:' .. hex, 'v') or '0'
        return {s.h, s.u, s.a, s.cs, s.ls, version}
        """)

    /// ARGV[5..7] = hex, version read, new attributes. Compare-and-swap of the attributes:
    /// nil when gone, 1 or 2 when expired, 0 when they changed since the read (merge again),
    /// else {handle, c, l}. `sub` is checked by the caller against what it read, and no script
    /// ever changes it, so the user index stays right.
    static let replace = RedisScript(name: "replace", source: prologue + """
        local hex = ARGV[5]
        local s, gone = loadLive(hex)
        if not s then return gone end
        local key = P .. 's:' .. hex
        if (redis.call('HGET', key, 'v') or '0') ~= ARGV[6] then return 0 end
        redis.call('HSET', key, 'a', ARGV[7])
        redis.call('HINCRBY', key, 'v', 1)
        return {s.h, s.cs, s.ls}
        """)

    /// ARGV[5] = hex. Returns what `revoke` does; a live one is announced.
    static let revokeKey = RedisScript(name: "revokeKey", source: prologue + """
        local result = revoke(ARGV[5])
        if result == 1 then redis.call('PUBLISH', P .. 'endings', 'k:' .. ARGV[5]) end
        return result
        """)

    /// ARGV[5] = handle. Like `revokeKey`, found through the handle.
    static let revokeHandle = RedisScript(name: "revokeHandle", source: prologue + """
        local handleKey = P .. 'h:' .. ARGV[5]
        local hex = redis.call('GET', handleKey)
        if not hex then return 0 end
        local s = load(hex)
        if not s or s.h ~= ARGV[5] then
          redis.call('DEL', handleKey)
          return 0
        end
        local result = revoke(hex)
        if result == 1 then redis.call('PUBLISH', P .. 'endings', 'k:' .. hex) end
        return result
        """)

    /// ARGV[5] = sub. Ends every session in the user's index. Returns {live, idle, absolute}:
    /// how many were live, and how many had expired by each deadline.
    static let revokeSubject = RedisScript(name: "revokeSubject", source: prologue + """
        local sub = ARGV[5]
        local user = P .. 'u:' .. sub
        local tally = {0, 0, 0}
        for _, hex in ipairs(redis.call('SMEMBERS', user)) do
          local s = load(hex)
          if s and s.u == sub then
            local result = revoke(hex)
            if result == 1 then tally[1] = tally[1] + 1 elseif result < 0 then tally[1 - result] = tally[1 - result] + 1 end
          end
        end
        redis.call('DEL', user)
        if tally[1] > 0 then redis.call('PUBLISH', P .. 'endings', 'u:' .. sub) end
        return tally
        """)

    /// ARGV[5...] = hexes found by a SCAN. Ends each; returns {live, idle, absolute}.
    static let revokeKeys = RedisScript(name: "revokeKeys", source: prologue + """
        local tally = {0, 0, 0}
        for i = 5, #ARGV do
          local result = revoke(ARGV[i])
          if result == 1 then tally[1] = tally[1] + 1 elseif result < 0 then tally[1 - result] = tally[1 - result] + 1 end
        end
        return tally
        """)

    /// ARGV[5...] = hexes. Which are live, as their 1-based positions; touches nothing.
    static let liveKeys = RedisScript(name: "liveKeys", source: prologue + """
        local live = {}
        for i = 5, #ARGV do
          local s = load(ARGV[i])
          if s and now < deadline(s.c, s.l) then live[#live + 1] = i - 4 end
        end
        return live
        """)

    /// ARGV[5] = sub. The user's live sessions, flattened: {handle, attributes, c, l, ...}.
    /// Index entries whose session is gone (Redis expired it) are dropped on the way.
    static let listSubject = RedisScript(name: "listSubject", source: prologue + """
        local sub = ARGV[5]
        local user = P .. 'u:' .. sub
        local out = {}
        for _, hex in ipairs(redis.call('SMEMBERS', user)) do
          local s = load(hex)
          if not s or s.u ~= sub then
            redis.call('SREM', user, hex)
          elseif now < deadline(s.c, s.l) then
            out[#out + 1] = s.h; out[#out + 1] = s.a; out[#out + 1] = s.cs; out[#out + 1] = s.ls
          end
        end
        return out
        """)

    /// ARGV[5] = cursor. One ZSCAN step over the expiry index: {next cursor, handle,
    /// attributes, c, l, ...} for the live sessions in it. A session may appear twice across
    /// steps (the caller drops repeats); one present throughout appears at least once.
    static let listPage = RedisScript(name: "listPage", source: prologue + """
        local page = redis.call('ZSCAN', index, ARGV[5], 'COUNT', 256)
        local out = {page[1]}
        local members = page[2]
        for i = 1, #members, 2 do
          local s = load(members[i])
          if s and now < deadline(s.c, s.l) then
            out[#out + 1] = s.h; out[#out + 1] = s.a; out[#out + 1] = s.cs; out[#out + 1] = s.ls
          end
        end
        return out
        """)

    /// ARGV[5] = batch size. Deletes up to that many sessions whose deadline has passed, found
    /// through the expiry index. Returns {index entries visited, idle, absolute}; the caller
    /// repeats while a full batch was visited.
    static let sweep = RedisScript(name: "sweep", source: prologue + """
        local members = redis.call('ZRANGE', index, '-inf', ARGV[2], 'BYSCORE', 'LIMIT', 0, ARGV[5])
        local tally = {#members, 0, 0}
        for _, hex in ipairs(members) do
          local s = load(hex)
          if not s then
            redis.call('ZREM', index, hex)
          elseif now >= deadline(s.c, s.l) then
            remove(hex, s)
            local r = reason(s.c, s.l)
            tally[1 + r] = tally[1 + r] + 1
          else
            -- The index was behind the record: set it right so the next batch moves on.
            redis.call('ZADD', index, deadline(s.c, s.l), hex)
          end
        end
        return tally
        """)

    /// ARGV[5..6] = hex, the attributes as a lookup read them. Deletes a record the lookup
    /// could not read (``DamagedSessionRecord``), unless its attributes changed since; the
    /// ending is announced. A key of another type under the session's name (not a hash: no
    /// session can be read from it) is deleted too. Returns 1 when deleted, else 0.
    static let discard = RedisScript(name: "discard", source: prologue + """
        local hex = ARGV[5]
        local key = P .. 's:' .. hex
        local kind = redis.call('TYPE', key)['ok']
        if kind == 'none' then return 0 end
        if kind ~= 'hash' then
          redis.call('DEL', key)
          redis.call('ZREM', index, hex)
          return 1
        end
        local s = load(hex)
        if not s or s.a ~= ARGV[6] then return 0 end
        remove(hex, s)
        redis.call('PUBLISH', P .. 'endings', 'k:' .. hex)
        return 1
        """)

    static let all = [discard, create, lookup, read, replace, revokeKey, revokeHandle, revokeSubject, revokeKeys, liveKeys, listSubject, listPage, sweep]
}
