/// The scripts for single sign-on sessions (``ProviderSessionStore``), beside
/// ``SessionScripts`` and sharing its prologue. Layout additions under the prefix `P`:
///
/// | key | type | holds | expires |
/// |---|---|---|---|
/// | `P s:<hex>` field `p` | hash field | the private part (the provider's tokens), JSON | with the session |
/// | `P i:<link>` | set | the `<hex>` of the sessions created from that provider session or user | at the latest absolute deadline of its sessions |
/// | `P r:<sha256>` | string | a used `state` or logout-token `jti` (hashed) | at the token's own expiry |
/// | `P refresh:<hex>` | string | the random holder of the session's refresh lease | at the lease's lifetime |
///
/// Index entries of sessions that ended otherwise are skipped (and dropped) when the index is
/// used, as for the user index.
enum ProviderScripts {
    // Sessions with a private part and links are created by ``SessionScripts/create``, which
    // writes the field `p` and the link indexes above when it is given them.

    /// ARGV[5] = hex. The private part of the live session: {p} (empty string when none);
    /// nil, or {why, handle, sub, client} (expired) otherwise. Touches nothing.
    static let read = RedisScript(name: "readProvider", source: SessionScripts.prologue + """
        local s, gone = loadLive(ARGV[5])
        if not s then return gone end
        return {redis.call('HGET', P .. 's:' .. ARGV[5], 'p') or ''}
        """)

    /// ARGV[5..6] = hex, private part. {1} when replaced; nil, or {why, handle, sub, client}
    /// (expired) when there is no live session.
    static let replace = RedisScript(name: "replaceProvider", source: SessionScripts.prologue + """
        local s, gone = loadLive(ARGV[5])
        if not s then return gone end
        redis.call('HSET', P .. 's:' .. ARGV[5], 'p', ARGV[6])
        return {1}
        """)

    /// ARGV[5] = link. Ends every session in the link's index, announcing each (tunnels on
    /// every instance close). Returns {live, idle, absolute, ended...}.
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
        return withEnded(tally)
        """)

    /// ARGV[5..6] = hex, holder. Deletes the refresh lease only if `holder` still holds it (one
    /// that lapsed may have been taken by another instance since). 1 when deleted, else 0.
    static let releaseLease = RedisScript(name: "releaseRefreshLease", source: """
        local lease = ARGV[1] .. 'refresh:' .. ARGV[5]
        if redis.call('GET', lease) == ARGV[6] then return redis.call('DEL', lease) end
        return 0
        """)

    static let all = [read, replace, revokeLink, releaseLease]
}
