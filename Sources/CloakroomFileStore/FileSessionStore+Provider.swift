import CloakroomSessions

import struct Foundation.Date

/// The file store's ``ProviderSessionStore``: the private part and the links are columns of the
/// session's row (schema version 2), written in the same transaction as the rest of it, and
/// kept in the in-memory table beside the record. Used `state`s and logout-token `jti`s are
/// remembered in this process only, and the refresh lease is always granted: the file has one
/// process at a time (it is locked).
extension FileSessionStore: SingleProcessProviderStore, ImmediateSecretsLookup {
    public func create(key: SessionKey, attributes: JSONObject, secrets: JSONObject, links: [String]) async throws -> Session {
        try await create(key: key, attributes: attributes, secrets: MemorySessionTable.encode(secrets), links: links)
    }

    public func secrets(key: SessionKey) async throws -> JSONObject? {
        try secretsNow(key: key)
    }

    public func secretsNow(key: SessionKey) throws -> JSONObject? {
        let bytes = try core.withState { state in state.table.secrets(key: key, now: core.clock.now()) }
        return try bytes.map(MemorySessionTable.decodeSecrets)
    }

    public func replaceSecrets(key: SessionKey, with secrets: JSONObject) async throws -> Bool {
        let encoded = MemorySessionTable.encode(secrets)
        return try await core.apply { state in
            let replaced = state.table.replaceSecrets(key: key, with: encoded, now: core.clock.now())
            if replaced { state.pending.mark(key, .row) }
            return (replaced, nil)
        }
    }

    public func revokeAll(link: String) async throws -> Int {
        let keys = try core.withState { $0.table.keys(link: link) }
        var count = 0
        for key in keys where try await revoke(key: key) { count += 1 }
        return count
    }

    public func firstUse(of token: String, until: Date) async throws -> Bool {
        replays.firstUse(of: token, until: until)
    }
}
