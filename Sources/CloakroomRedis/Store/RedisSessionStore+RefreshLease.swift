import CloakroomSessions

/// The refresh lease (``ProviderSessionStore/leaseRefresh(key:for:)``) in Redis, so instances
/// sharing the store refresh a session's tokens one at a time: `SET P refresh:<hex> <holder> NX
/// PX <lifetime>` takes it, and ``ProviderScripts/releaseLease`` deletes it only while it is
/// still that holder's. The key is named by the session key's hex, never the session ID, and
/// Redis drops it after its lifetime even if its holder never comes back.
extension RedisSessionStore {
    public func leaseRefresh(key: SessionKey, for lifetime: Duration) async throws -> RefreshLease? {
        let lease = RefreshLease(key: key)
        return try await guarded {
            var command = RESPCommandBuilder(argumentCount: 6)
            command.append("SET")
            command.append(keys.prefix + "refresh:" + key.hex)
            command.append(lease.holder)
            command.append("NX")
            command.append("PX")
            // Counted by Redis on its own clock: a lifetime, never an instant.
            command.append(max(Milliseconds.of(lifetime), 1))
            let reply = try await pool.connection().send(command.buffer)
            if let message = reply.errorMessage { throw RedisClientError.serverError(message) }
            switch reply {
            case .null:
                return nil
            case .simpleString, .bulkString:
                return lease
            default:
                throw unexpected(reply, from: "SET NX (refresh lease)")
            }
        }
    }

    public func releaseRefresh(_ lease: RefreshLease) async throws {
        _ = try await guarded {
            try await run(ProviderScripts.releaseLease, now: Milliseconds.of(clock.now()), extraCount: 2) { command in
                command.append(hexOf: lease.key)
                command.append(lease.holder)
            }
        }
    }
}
