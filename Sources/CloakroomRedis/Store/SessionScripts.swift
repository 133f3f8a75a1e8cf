/// The store's Lua scripts. Each runs atomically in Redis, so a session, its handle, its
/// user's index entry and its place in the expiry index change together or not at all.
///
/// Layout under the key prefix `P` (every key has a TTL, so a Redis with no Cloakroom attached
/// still forgets expired sessions):
///
/// | key | type | holds | expires |
/// |---|---|---|---|
/// | `P s:<hex>` | hash | `h` handle, `u` sub, `a` attributes JSON, `c` created ms, `l` last seen ms, `v` version, `ip` client address, `ua` User-Agent | two minutes after the session's deadline |
/// | `P h:<handle>` | string | the session's `<hex>` | with the session |
/// | `P u:<sub>` | set | the `<hex>` of the user's sessions | with the user's last session |
/// | `P expiries` | sorted set | `<hex>` scored by deadline (ms) | with the last session |
///
/// `<hex>` is the session key (the SHA-256 of the ID) in hex; the ID itself is never stored.
/// Times are Unix milliseconds from the store's injected clock, passed in as `ARGV[2]`; the
/// deadline is `min(l + idle, c + absolute)`, and a session whose deadline is at or before
/// now is expired whatever Redis's own TTL says. Keys expire ``grace`` after the deadline, so
/// a lookup or the sweeper (every minute at most) finds an expired session and reports its
/// ending before Redis forgets it. Revocations are published on `P endings`.
///
/// Scripts that end sessions answer, after their own result, a flattened list of what they
/// ended: `why` (0 revoked, 1 idle, 2 absolute, 3 limit, 4 damaged), handle, sub, client, per
/// session; one that found its session expired or damaged answers `{why, handle, sub, client}`.
///
/// Every script takes `ARGV[1..4]` = prefix, now, idle ms, absolute ms; the rest is per script.
/// Keys are computed inside the scripts from the prefix, which Redis Cluster would not allow:
/// the store needs a single Redis server (or a primary with replicas).
enum SessionScripts {
    /// How long past a session's deadline its keys live in Redis: longer than the sweeper's
    /// period (at most a minute), so an expiry is seen, and reported, before Redis drops the
    /// record. Expiry itself is decided by the deadline, never by the TTL.
    static let grace: Int64 = 120_000

    /// Shared definitions, prepended to every script.
    static let prologue = """
        local P, now, idle, absolute = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
        local index = P .. 'expiries'
        local grace = \(grace)
        -- What this script ended, flattened {why, handle, sub, client, ...}.
        local ended = {}
        local function note(why, s)
          ended[#ended + 1] = why; ended[#ended + 1] = s.h; ended[#ended + 1] = s.u; ended[#ended + 1] = s.ip
        end
        -- `head` followed by what this script ended.
        local function withEnded(head)
          for _, v in ipairs(ended) do head[#head + 1] = v end
          return head
        end
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
        -- Stored Unix milliseconds: digits only, as the store writes them (what Swift reads too).
        local function millis(v)
          if v and #v <= 16 and string.find(v, '^%d+$') then return tonumber(v) end
          return nil
        end
        -- The session under `hex`; nil when there is none; or, for a damaged record (a field
        -- missing or malformed, a key of another type under the session's name), nil and what
        -- could be read of it, {h, u, a} each maybe nil. A damaged record is never served:
        -- the caller deletes it with `drop` (listings and `liveKeys` skip it).
        local function load(hex)
          local r = redis.pcall('HMGET', P .. 's:' .. hex, 'h', 'u', 'a', 'c', 'l', 'ip', 'ua')
          if r.err then return nil, {} end
          if not (r[1] or r[2] or r[3] or r[4] or r[5]) then return nil end
          local c, l = millis(r[4]), millis(r[5])
          if not (r[1] and r[2] and r[3] and c and l) then
            return nil, {h = r[1] or nil, u = r[2] or nil, a = r[3] or nil}
          end
          return {h = r[1], u = r[2], a = r[3], c = c, l = l, cs = r[4], ls = r[5], ip = r[6] or '', ua = r[7] or ''}
        end
        local function remove(hex, s)
          redis.call('DEL', P .. 's:' .. hex, P .. 'h:' .. s.h)
          redis.call('SREM', P .. 'u:' .. s.u, hex)
          redis.call('ZREM', index, hex)
        end
        -- Deletes the damaged record `d` under `hex` with its handle key (if it names this session),
        -- user index entry and expiry entry, and announces it. Returns it for `note(4, ...)`
        -- (damaged) by handle alone: its other fields are not trusted.
        local function drop(hex, d)
          redis.call('DEL', P .. 's:' .. hex)
          if d.h and redis.pcall('GET', P .. 'h:' .. d.h) == hex then redis.call('DEL', P .. 'h:' .. d.h) end
          if d.u then redis.pcall('SREM', P .. 'u:' .. d.u, hex) end
          redis.call('ZREM', index, hex)
          redis.call('PUBLISH', P .. 'endings', 'k:' .. hex)
          return {h = d.h or '', u = '', ip = ''}
        end
        -- The live session under `hex`; else nil and what the script answers: false when
        -- there is none, {why, handle, sub, client} when it had expired (why: 1 idle, 2
        -- absolute) or was damaged (4), after removing it.
        local function loadLive(hex)
          local s, damaged = load(hex)
          if damaged then
            local d = drop(hex, damaged)
            return nil, {4, d.h, d.u, d.ip}
          end
          if not s then return nil, false end
          if now >= deadline(s.c, s.l) then
            remove(hex, s)
            local why = reason(s.c, s.l)
            return nil, {why, s.h, s.u, s.ip}
          end
          return s
        end
        -- Ends the session under `hex`: 1 if it was live, -1 or -2 if it had expired (idle,
        -- absolute) and was only cleaned up, 0 if there was none (a damaged record is dropped).
        local function revoke(hex)
          local s, damaged = load(hex)
          if damaged then note(4, drop(hex, damaged)) end
          if not s then return 0 end
          remove(hex, s)
          if now >= deadline(s.c, s.l) then
            note(reason(s.c, s.l), s)
            return -reason(s.c, s.l)
          end
          note(0, s)
          return 1
        end

        """

    /// ARGV[5..6] = touch interval ms, hex. The request path: one call reads, checks expiry
    /// and, at most once per touch interval, moves `l` and every TTL. Returns nil when absent,
    /// {why, handle, sub, client} when expired (and deleted), else {handle, attributes, c, l}.
    static let lookup = RedisScript(name: "lookup", source: prologue + """
        local touch, hex = tonumber(ARGV[5]), ARGV[6]
        local s, gone = loadLive(hex)
        if not s then return gone end
        local seen = s.ls
        if now - s.l >= touch then
          local expires = deadline(s.c, now)
          local key = P .. 's:' .. hex
          redis.call('HSET', key, 'l', ARGV[2])
          redis.call('PEXPIREAT', key, expires + grace)
          redis.call('PEXPIREAT', P .. 'h:' .. s.h, expires + grace)
          redis.call('ZADD', index, expires, hex)
          keepUntil(P .. 'u:' .. s.u, expires + grace)
          keepUntil(index, expires + grace)
          seen = ARGV[2]
        end
        return {s.h, s.a, s.cs, seen}
        """)

    /// ARGV[5] = hex. Like `lookup` without touching, plus `sub` and the attributes' version,
    /// for a merge patch: nil, {why, handle, sub, client} (expired), or {handle, sub,
    /// attributes, c, l, version}.
    static let read = RedisScript(name: "read", source: prologue + """
        local hex = ARGV[5]
        local s, gone = loadLive(hex)
        if not s then return gone end
        local version = redis.call('HGET', P .. 's:' .. hex, 'v') or '0'
        return {s.h, s.u, s.a, s.cs, s.ls, version}
        """)

    /// ARGV[5..7] = hex, version read, new attributes. Compare-and-swap of the attributes:
    /// nil when gone, {why, handle, sub, client} when expired, 0 when they changed since the
    /// read (merge again),
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

    /// ARGV[5] = hex. Returns {what `revoke` does, ended...}; a live one is announced.
    static let revokeKey = RedisScript(name: "revokeKey", source: prologue + """
        local result = revoke(ARGV[5])
        if result == 1 then redis.call('PUBLISH', P .. 'endings', 'k:' .. ARGV[5]) end
        return withEnded({result})
        """)

    /// ARGV[5] = handle. Like `revokeKey`, found through the handle.
    static let revokeHandle = RedisScript(name: "revokeHandle", source: prologue + """
        local handleKey = P .. 'h:' .. ARGV[5]
        local hex = redis.call('GET', handleKey)
        if not hex then return {0} end
        local s, damaged = load(hex)
        if damaged then note(4, drop(hex, damaged)) end
        if not s or s.h ~= ARGV[5] then
          redis.call('DEL', handleKey)
          return withEnded({0})
        end
        local result = revoke(hex)
        if result == 1 then redis.call('PUBLISH', P .. 'endings', 'k:' .. hex) end
        return withEnded({result})
        """)

    /// ARGV[5] = sub. Ends every session in the user's index. Returns {live, idle, absolute,
    /// ended...}: how many were live, and how many had expired by each deadline.
    static let revokeSubject = RedisScript(name: "revokeSubject", source: prologue + """
        local sub = ARGV[5]
        local user = P .. 'u:' .. sub
        local tally = {0, 0, 0}
        for _, hex in ipairs(redis.call('SMEMBERS', user)) do
          local s, damaged = load(hex)
          if damaged then note(4, drop(hex, damaged)) end
          if s and s.u == sub then
            local result = revoke(hex)
            if result == 1 then tally[1] = tally[1] + 1 elseif result < 0 then tally[1 - result] = tally[1 - result] + 1 end
          end
        end
        redis.call('DEL', user)
        if tally[1] > 0 then redis.call('PUBLISH', P .. 'endings', 'u:' .. sub) end
        return withEnded(tally)
        """)

    /// ARGV[5...] = hexes found by a SCAN. Ends each; returns {live, idle, absolute, ended...}.
    static let revokeKeys = RedisScript(name: "revokeKeys", source: prologue + """
        local tally = {0, 0, 0}
        for i = 5, #ARGV do
          local result = revoke(ARGV[i])
          if result == 1 then tally[1] = tally[1] + 1 elseif result < 0 then tally[1 - result] = tally[1 - result] + 1 end
        end
        return withEnded(tally)
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

    /// ARGV[5] = sub. The user's live sessions, flattened: {handle, attributes, c, l, client,
    /// User-Agent, ...}.
    /// Index entries whose session is gone (Redis expired it) are dropped on the way.
    static let listSubject = RedisScript(name: "listSubject", source: prologue + """
        local sub = ARGV[5]
        local user = P .. 'u:' .. sub
        local out = {}
        for _, hex in ipairs(redis.call('SMEMBERS', user)) do
          local s, damaged = load(hex)
          if not s and not damaged or s and s.u ~= sub then
            redis.call('SREM', user, hex)
          elseif s and now < deadline(s.c, s.l) then
            out[#out + 1] = s.h; out[#out + 1] = s.a; out[#out + 1] = s.cs; out[#out + 1] = s.ls
            out[#out + 1] = s.ip; out[#out + 1] = s.ua
          end
        end
        return out
        """)

    /// ARGV[5] = cursor. One ZSCAN step over the expiry index: {next cursor, handle,
    /// attributes, c, l, client, User-Agent, ...} for the live sessions in it. A session may appear twice across
    /// steps (the caller drops repeats); one present throughout appears at least once.
    static let listPage = RedisScript(name: "listPage", source: prologue + """
        local page = redis.call('ZSCAN', index, ARGV[5], 'COUNT', 256)
        local out = {page[1]}
        local members = page[2]
        for i = 1, #members, 2 do
          local s = load(members[i])
          if s and now < deadline(s.c, s.l) then
            out[#out + 1] = s.h; out[#out + 1] = s.a; out[#out + 1] = s.cs; out[#out + 1] = s.ls
            out[#out + 1] = s.ip; out[#out + 1] = s.ua
          end
        end
        return out
        """)

    /// ARGV[5] = batch size. Deletes up to that many sessions whose deadline has passed, found
    /// through the expiry index. Returns {index entries visited, idle, absolute, ended...}; the
    /// caller repeats while a full batch was visited.
    static let sweep = RedisScript(name: "sweep", source: prologue + """
        local members = redis.call('ZRANGE', index, '-inf', ARGV[2], 'BYSCORE', 'LIMIT', 0, ARGV[5])
        local tally = {#members, 0, 0}
        for _, hex in ipairs(members) do
          local s, damaged = load(hex)
          if damaged then
            note(4, drop(hex, damaged))
          elseif not s then
            redis.call('ZREM', index, hex)
          elseif now >= deadline(s.c, s.l) then
            remove(hex, s)
            local r = reason(s.c, s.l)
            tally[1 + r] = tally[1 + r] + 1
            note(r, s)
          else
            -- The index was behind the record (or the timeouts grew since it was scored): set
            -- it right so the next batch moves on, and keep the keys until the new deadline.
            local expires = deadline(s.c, s.l)
            redis.call('ZADD', index, expires, hex)
            keepUntil(P .. 's:' .. hex, expires + grace)
            keepUntil(P .. 'h:' .. s.h, expires + grace)
            keepUntil(P .. 'u:' .. s.u, expires + grace)
            keepUntil(index, expires + grace)
          end
        end
        return withEnded(tally)
        """)

    /// ARGV[5..6] = hex, the attributes as a lookup read them (empty: none). Deletes a record
    /// the lookup could not read (``DamagedSessionRecord``) with its handle, index and expiry
    /// entries, unless its attributes changed since; the ending is announced. A key of another
    /// type under the session's name (no session can be read from it) is deleted too. Returns
    /// 1 when deleted, else 0; the caller reports the ending.
    static let discard = RedisScript(name: "discard", source: prologue + """
        local hex = ARGV[5]
        local s, damaged = load(hex)
        local found = s or damaged
        if not found or (found.a or '') ~= ARGV[6] then return 0 end
        if s then
          remove(hex, s)
          redis.call('PUBLISH', P .. 'endings', 'k:' .. hex)
        else
          drop(hex, damaged)
        end
        return 1
        """)

    static let all = [discard, create, lookup, read, replace, revokeKey, revokeHandle, revokeSubject, revokeKeys, liveKeys, listSubject, listPage, sweep]
}
