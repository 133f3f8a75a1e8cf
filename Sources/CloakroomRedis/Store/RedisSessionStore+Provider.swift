import CloakroomSessions
import Crypto

import struct Foundation.Date

/// The Redis store's ``ProviderSessionStore`` (see ``ProviderScripts`` for the layout). The
/// replay guard is `SET NX` with the token's own expiry, so every instance sharing the Redis
/// refuses a `jti` or `state` any of them has seen.
extension RedisSessionStore: ProviderSessionStore {
    public func create(key: SessionKey, attributes: JSONObject, secrets: JSONObject, links: [String]) async throws -> Session {
        try await create(key: key, attributes: attributes, privatePart: JSONValue.object(secrets).jsonText, links: links)
    }

    public func secrets(key: SessionKey) async throws -> JSONObject? {
        let reply = try await guarded {
            try await run(ProviderScripts.read, now: Milliseconds.of(clock.now()), extraCount: 1) { $0.append(hexOf: key) }
        }
        if reportExpired(reply) { return nil }
        switch reply {
        case .null:
            return nil
        default:
            guard let fields = reply.elements, fields.count == 1, let text = fields[0].string else {
                throw SessionStoreError.unavailable("\(unexpected(reply, from: "readProvider"))")
            }
            return try MemorySessionTable.decodeSecrets(Array(text.utf8))
        }
    }

    public func replaceSecrets(key: SessionKey, with secrets: JSONObject) async throws -> Bool {
        let text = JSONValue.object(secrets).jsonText
        let reply = try await guarded {
            try await run(ProviderScripts.replace, now: Milliseconds.of(clock.now()), extraCount: 2) { command in
                command.append(hexOf: key)
                command.append(text)
            }
        }
        if reportExpired(reply) { return false }
        return reply.elements != nil
    }

    public func revokeAll(link: String) async throws -> Int {
        try await SessionMetrics.measure(.revoke) {
            try await guarded {
                let reply = try await run(ProviderScripts.revokeLink, now: Milliseconds.of(clock.now()), extraCount: 1) { $0.append(link) }
                return try tally(reply, from: "revokeLink")
            }
        }
    }

    public func firstUse(of token: String, until: Date) async throws -> Bool {
        // Hashed: the name of a Redis key may show up in monitoring; the token never does.
        let digest = SHA256.hash(data: Array(token.utf8)).map { String(format: "%02x", $0) }.joined()
        // A lifetime, not an instant: Redis counts it on its own clock.
        let lifetime = max(Milliseconds.of(until) - Milliseconds.of(clock.now()), 1000)
        return try await guarded {
            var command = RESPCommandBuilder(argumentCount: 6)
            command.append("SET")
            command.append(keys.prefix + "r:" + digest)
            command.append("1")
            command.append("NX")
            command.append("PX")
            command.append(lifetime)
            let reply = try await pool.connection().send(command.buffer)
            if let message = reply.errorMessage { throw RedisClientError.serverError(message) }
            if case .null = reply { return false }
            return true
        }
    }
}

import Foundation
