/// The scripts for single sign-on sessions (``ProviderSessionStore``), beside
/// ``SessionScripts`` and sharing its prologue. Layout additions under the prefix `P`:
///
/// | key | type | holds | expires |
/// |---|---|---|---|
/// | `P s:<hex>` field `p` | hash field | the private part (the provider's tokens), JSON | with the session |
/// | `P i:<link>` | set | the `<hex>` of the sessions created from that provider session or user | at the latest absolute deadline of its sessions |
/// | `P r:<sha256>` | string | a used `state` or logout-token `jti` (hashed) | at the token's own expiry |
///
/// Index entries of sessions that ended otherwise are skipped (and dropped) when the index is
/// used, as for the user index.
enum ProviderScripts {
    /// ARGV[5..9] = hex, handle, sub, attributes, private part; ARGV[10...] = links. Like
    /// ``SessionScripts/create``, plus the private part and the link index.
    static let create = RedisScript(name: "createProvider", source: SessionScripts.prologue + """
        local hex, handle, sub = ARGV[5], ARGV[6], ARGV[7]
        local expires = deadline(now, now)
        if not redis.call('SET', P .. 'h:' .. handle, hex, 'NX', 'PXAT', expires) then return 0 end
        local old = load(hex)
        if old then remove(hex, old) end
        local key = P .. 's:' .. hex
        redis.call('HSET', key, 'h', handle, 'u', sub, 'a', ARGV[8], 'c', ARGV[2], 'l', ARGV[2], 'p', ARGV[9])
        redis.call('PEXPIREAT', key, expires)
        local user = P .. 'u:' .. sub
        redis.call('SADD', user, hex)
        keepUntil(user, expires)
        redis.call('ZADD', index, expires, hex)
        keepUntil(index, expires)
        for i = 10, #ARGV do
          local link = P .. 'i:' .. ARGV[i]
          for _, stale in ipairs(redis.call('SRANDMEMBER', link, 3)) do
            if redis.call('EXISTS', P .. 's:' .. stale) == 0 then redis.call('SREM', link, stale) end
          end
          redis.call('SADD', link, hex)
          keepUntil(link, now + absolute)
        end
        return 1
        """)

    /// ARGV[5] = hex. The private part of the live session: {p} (empty string when none);
    /// nil, 1 or 2 (expired) otherwise. Touches nothing.
    static let read = RedisScript(name: "readProvider", source: SessionScripts.prologue + """
        local s, gone = loadLive(ARGV[5])
        if not s then return gone end
        return {redis.call('HGET', P .. 's:' .. ARGV[5], 'p') or ''}
        """)

    /// ARGV[5..6] = hex, private part. {1} when replaced (an array, to tell it from an expiry
    /// reason); nil, 1 or 2 (expired) when there is no live session.
    static let replace = RedisScript(name: "replaceProvider", source: SessionScripts.prologue + """
        local s, gone = loadLive(ARGV[5])
        if not s then return gone end
        redis.call('HSET', P .. 's:' .. ARGV[5], 'p', ARGV[6])
        return {1}
        """)

    /// ARGV[5] = link. Ends every session in the link's index, announcing each (tunnels on
    /// every instance close). Returns {live, idle, absolute}.
    static let revokeLink = RedisScript(name: "revokeLink", source: SessionScripts.prologue + """
        local link = P .. 'i:' .. ARGV[5]
        local tally = {0, 0, 0}
        for _, hex in ipairs(redis.call('SMEMBERS', link)) do
          local result = revoke(hex)
          if result == 1 then
            tally[1] = tally[1] + 1
            redis.call('PUBLISH', P .. 'endings', 'k:' .. hex)
          elseif result < 0 then
            tally[1 - result] = tally[1 - result] + 1
          end
        end
        redis.call('DEL', link)
        return tally
        """)

    static let all = [create, read, replace, revokeLink]
}
