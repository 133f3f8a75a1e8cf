/// The Lua scripts behind API keys in Redis (``RedisSessionStore`` as an `APIKeyStore`). Each
/// runs atomically, so a key, its handle, its user's index entry and its place in the index of
/// all keys change together or not at all.
///
/// Layout under the key prefix `P`, beside the sessions' (``SessionScripts``) and never mixed
/// with them (a revoke of everyone's sessions scans `P s:*` only):
///
/// | key | type | holds | expires |
/// |---|---|---|---|
/// | `P k:<hex>` | hash | `h` handle, `u` sub, `n` name (absent: none), `a` attributes JSON, `c` created ms, `l` last used ms (absent: never), `e` expires ms | ``SessionScripts/grace`` after `e` |
/// | `P kh:<handle>` | string | the key's `<hex>` | with the key |
/// | `P ku:<sub>` | set | the `<hex>` of the user's keys | with the user's last key |
/// | `P apikeys` | sorted set | every key's `<hex>` scored by `e` | with the last key |
///
/// `<hex>` is the SHA-256 of the key's text (``APIKeySecret``) in hex; the text never reaches
/// Redis. Expiry is decided by `e` against the store's clock (`ARGV[2]`), never by the TTL.
///
/// Scripts answer keys as flattened entries of eight fields: `status` (1 live, or live until
/// this revoke; 2 expired), handle, sub, name (nil: none), attributes, created ms, last used ms
/// (nil: never), expires ms. Every script takes `ARGV[1..4]` as the sessions' do. Times go
/// back as the strings they were stored as: Lua would print a large number as `1.8e+12`.
enum APIKeyScripts {
    static let prologue = """
        local P, now = ARGV[1], tonumber(ARGV[2])
        local index = P .. 'apikeys'
        local grace = \(SessionScripts.grace)
        local function keepUntil(key, at)
          local t = redis.call('PEXPIRETIME', key)
          if t == -1 or (t >= 0 and t < at) then redis.call('PEXPIREAT', key, at) end
        end
        -- The key under `hex`, or nil. A record missing fields is not trusted: deleted.
        local function load(hex)
          local key = P .. 'k:' .. hex
          local r = redis.call('HMGET', key, 'h', 'u', 'n', 'a', 'c', 'l', 'e')
          if not (r[1] or r[2] or r[4] or r[5] or r[7]) then return nil end
          if not (r[1] and r[2] and r[4] and tonumber(r[5]) and tonumber(r[7])) then
            redis.call('DEL', key)
            redis.call('ZREM', index, hex)
            return nil
          end
          return {h = r[1], u = r[2], n = r[3], a = r[4], c = r[5], l = r[6], e = tonumber(r[7]), es = r[7]}
        end
        local function remove(hex, k)
          redis.call('DEL', P .. 'k:' .. hex, P .. 'kh:' .. k.h)
          redis.call('SREM', P .. 'ku:' .. k.u, hex)
          redis.call('ZREM', index, hex)
        end
        local out = {}
        local function put(status, k)
          local n = #out
          out[n + 1] = status; out[n + 2] = k.h; out[n + 3] = k.u; out[n + 4] = k.n or false
          out[n + 5] = k.a; out[n + 6] = k.c; out[n + 7] = k.l or false; out[n + 8] = k.es
        end
        -- Removes the key under `hex` and notes it: 1 if it was live, 2 if expired; nil if none.
        local function revoke(hex)
          local k = load(hex)
          if not k then return nil end
          remove(hex, k)
          if now >= k.e then put(2, k) else put(1, k) end
          return true
        end

        """

    /// ARGV[5..10] = hex, handle, sub, attributes, expires ms, name; ARGV[11] = '1' when there
    /// is a name. Returns 0 when the handle is taken (the caller draws another), else 1. A key
    /// already under the hex is replaced.
    static let create = RedisScript(name: "keyCreate", source: prologue + """
        local hex, handle, sub, e = ARGV[5], ARGV[6], ARGV[7], tonumber(ARGV[9])
        if not redis.call('SET', P .. 'kh:' .. handle, hex, 'NX', 'PXAT', e + grace) then return 0 end
        local old = load(hex)
        if old then remove(hex, old) end
        local key = P .. 'k:' .. hex
        redis.call('HSET', key, 'h', handle, 'u', sub, 'a', ARGV[8], 'c', ARGV[2], 'e', ARGV[9])
        if ARGV[11] == '1' then redis.call('HSET', key, 'n', ARGV[10]) end
        redis.call('PEXPIREAT', key, e + grace)
        local user = P .. 'ku:' .. sub
        redis.call('SADD', user, hex)
        keepUntil(user, e + grace)
        redis.call('ZADD', index, e, hex)
        keepUntil(index, e + grace)
        return 1
        """)

    /// ARGV[5..6] = touch interval ms, hex. The key as one entry (status 1), touching `l` when
    /// it is unset or at least the touch interval old; an expired one is removed and answered
    /// with status 2; nil when there is none.
    static let lookup = RedisScript(name: "keyLookup", source: prologue + """
        local touch, hex = tonumber(ARGV[5]), ARGV[6]
        local k = load(hex)
        if not k then return false end
        if now >= k.e then
          remove(hex, k)
          put(2, k)
          return out
        end
        if not k.l or now - tonumber(k.l) >= touch then
          redis.call('HSET', P .. 'k:' .. hex, 'l', ARGV[2])
          k.l = ARGV[2]
        end
        put(1, k)
        return out
        """)

    /// ARGV[5] = handle. Removes that key: its entry (1 live, 2 expired), or nil when none.
    static let revokeHandle = RedisScript(name: "keyRevokeHandle", source: prologue + """
        local hex = redis.call('GET', P .. 'kh:' .. ARGV[5])
        if not hex then return false end
        local k = load(hex)
        if not k or k.h ~= ARGV[5] then
          redis.call('DEL', P .. 'kh:' .. ARGV[5])
          return false
        end
        revoke(hex)
        return out
        """)

    /// ARGV[5] = sub. Removes every key in the user's index: their entries.
    static let revokeSubject = RedisScript(name: "keyRevokeSubject", source: prologue + """
        local user = P .. 'ku:' .. ARGV[5]
        for _, hex in ipairs(redis.call('SMEMBERS', user)) do
          local k = load(hex)
          if k and k.u == ARGV[5] then revoke(hex) else redis.call('SREM', user, hex) end
        end
        return out
        """)

    /// ARGV[5] = sub, or '' for every user. Live keys as entries (status 1), touching nothing.
    static let list = RedisScript(name: "keyList", source: prologue + """
        local hexes
        if ARGV[5] == '' then
          hexes = redis.call('ZRANGE', index, '(' .. ARGV[2], '+inf', 'BYSCORE')
        else
          hexes = redis.call('SMEMBERS', P .. 'ku:' .. ARGV[5])
        end
        for _, hex in ipairs(hexes) do
          local k = load(hex)
          if k and now < k.e and (ARGV[5] == '' or k.u == ARGV[5]) then put(1, k) end
        end
        return out
        """)

    /// ARGV[5] = batch size. Removes up to that many keys whose `e` has passed: {how many
    /// index entries were looked at, entries of the keys removed...}.
    static let sweep = RedisScript(name: "keySweep", source: prologue + """
        local due = redis.call('ZRANGE', index, '-inf', ARGV[2], 'BYSCORE', 'LIMIT', 0, tonumber(ARGV[5]))
        for _, hex in ipairs(due) do
          if not revoke(hex) then redis.call('ZREM', index, hex) end
        end
        table.insert(out, 1, #due)
        return out
        """)
}
