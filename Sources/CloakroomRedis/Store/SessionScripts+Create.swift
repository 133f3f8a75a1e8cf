/// The login's script, the one that writes a new session (and, at `max_per_user`, ends the
/// user's least recently used ones): the layout and argument conventions are ``SessionScripts``'.
extension SessionScripts {
    /// ARGV[5..13] = hex, handle, sub, attributes, client address, User-Agent, per-user limit
    /// (0: none), private part (empty: none), deadline (Redis's `TIME` in microseconds, 0: none;
    /// see ``LoginDeadline``); ARGV[14...] = provider links. Returns 0 when the handle is taken
    /// (the caller draws another), an error reply `LATE ...` when Redis runs it after its
    /// deadline (nothing written), else {1, ended...}. A session already under the key is
    /// replaced.
    ///
    /// With a limit, the user's sessions are read in the same script: expired ones are removed,
    /// then the least recently used (by `l`, the earlier `c`, then `<hex>` on a tie) are ended
    /// and announced until fewer than the limit remain. Redis runs one script at a time, so
    /// logins racing on several instances never leave more than the limit live.
    static let create = RedisScript(name: "create", source: prologue + """
        local hex, handle, sub, limit = ARGV[5], ARGV[6], ARGV[7], tonumber(ARGV[11])
        local late = tonumber(ARGV[13])
        if late > 0 then
          local t = redis.call('TIME')
          if tonumber(t[1]) * 1000000 + tonumber(t[2]) > late then
            return redis.error_reply('\(LoginDeadline.lateReply) the login ran after its deadline: the proxy had answered 503')
          end
        end
        local expires = deadline(now, now)
        if not redis.call('SET', P .. 'h:' .. handle, hex, 'NX', 'PXAT', expires + grace) then return 0 end
        local old, damaged = load(hex)
        if old then remove(hex, old) elseif damaged then note(4, drop(hex, damaged)) end
        local user = P .. 'u:' .. sub
        if limit > 0 then
          local live = {}
          for _, member in ipairs(redis.call('SMEMBERS', user)) do
            local s, damaged = load(member)
            if damaged then note(4, drop(member, damaged)) end
            if not s or s.u ~= sub then
              redis.call('SREM', user, member)
            elseif now >= deadline(s.c, s.l) then
              remove(member, s)
              note(reason(s.c, s.l), s)
            else
              live[#live + 1] = {member, s}
            end
          end
          while #live >= limit do
            local pick = 1
            for i = 2, #live do
              local a, b = live[i][2], live[pick][2]
              if a.l < b.l or (a.l == b.l and (a.c < b.c or (a.c == b.c and live[i][1] < live[pick][1]))) then pick = i end
            end
            local victim = table.remove(live, pick)
            remove(victim[1], victim[2])
            note(3, victim[2])
            redis.call('PUBLISH', P .. 'endings', 'k:' .. victim[1])
          end
        else
          -- A few entries of sessions Redis expired on its own are pruned on every login, so a
          -- user's index does not grow with them.
          for _, stale in ipairs(redis.call('SRANDMEMBER', user, 3)) do
            if redis.call('EXISTS', P .. 's:' .. stale) == 0 then redis.call('SREM', user, stale) end
          end
        end
        local key = P .. 's:' .. hex
        redis.call('HSET', key, 'h', handle, 'u', sub, 'a', ARGV[8], 'c', ARGV[2], 'l', ARGV[2], 'ip', ARGV[9], 'ua', ARGV[10])
        if ARGV[12] ~= '' then redis.call('HSET', key, 'p', ARGV[12]) end
        redis.call('PEXPIREAT', key, expires + grace)
        redis.call('SADD', user, hex)
        keepUntil(user, expires + grace)
        redis.call('ZADD', index, expires, hex)
        keepUntil(index, expires + grace)
        for i = 14, #ARGV do
          local link = P .. 'i:' .. ARGV[i]
          for _, stale in ipairs(redis.call('SRANDMEMBER', link, 3)) do
            if redis.call('EXISTS', P .. 's:' .. stale) == 0 then redis.call('SREM', link, stale) end
          end
          redis.call('SADD', link, hex)
          keepUntil(link, now + absolute + grace)
        end
        return withEnded({1})
        """)
}
