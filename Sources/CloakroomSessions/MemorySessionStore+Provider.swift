import struct Foundation.Date

/// The memory store's ``ProviderSessionStore``: private parts and links live in the table with
/// their record, so they end with it (revoke, expiry, eviction). One process: the refresh lease
/// is always granted (``SingleProcessProviderStore``).
extension MemorySessionStore: SingleProcessProviderStore, ImmediateSecretsLookup {
    public func create(key: SessionKey, attributes: JSONObject, secrets: JSONObject, links: [String]) async throws -> Session {
        try createNow(key: key, attributes: attributes, secrets: MemorySessionTable.encode(secrets), links: links)
    }

    public func secrets(key: SessionKey) async throws -> JSONObject? {
        try secretsNow(key: key)
    }

    /// ``secrets(key:)`` without suspending.
    public func secretsNow(key: SessionKey) throws -> JSONObject? {
        let now = clock.now()
        let (bytes, endings) = table.withLock { ($0.secrets(key: key, now: now), $0.takeEndings()) }
        deliver(endings)
        return try bytes.map(MemorySessionTable.decodeSecrets)
    }

    public func replaceSecrets(key: SessionKey, with secrets: JSONObject) async throws -> Bool {
        let encoded = MemorySessionTable.encode(secrets)
        let now = clock.now()
        return table.withLock { $0.replaceSecrets(key: key, with: encoded, now: now) }
    }

    public func revokeAll(link: String) async throws -> Int {
        let keys = table.withLock { $0.keys(link: link) }
        var count = 0
        for key in keys where try await revoke(key: key) { count += 1 }
        return count
    }

    public func firstUse(of token: String, until: Date) async throws -> Bool {
        replays.firstUse(of: token, until: until)
    }
}

extension MemorySessionTable {
    /// A stored private part back as an object; empty bytes are an empty object.
    package static func decodeSecrets(_ bytes: [UInt8]) throws -> JSONObject {
        guard !bytes.isEmpty else { return [:] }
        let value = try? bytes.withUnsafeBufferPointer { try JSONValue(parsingUTF8: $0) }
        guard case .object(let object)? = value else {
            throw SessionStoreError.unavailable("corrupt private part of a session record")
        }
        return object
    }
}
