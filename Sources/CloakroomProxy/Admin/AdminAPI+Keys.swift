import CloakroomConfig
import CloakroomSessions
import Foundation

/// The admin API's API-key routes (SPEC "Machine clients"): `POST /api-keys` creates one and
/// shows its secret this once, `GET /api-keys[?user=SUB]` lists them without it, `DELETE
/// /api-keys/{handle}` revokes one. The store keeps keys beside the sessions; every real store
/// is an ``APIKeyStore``.
extension AdminAPI {
    /// The session store as a key store, when it is one (every real store is).
    var keyStore: (any APIKeyStore)? { store as? any APIKeyStore }

    func routeKeys(_ request: Request, parts: [String]) async throws -> Response {
        guard let keys = keyStore else { return .error(.notImplemented, "api_keys_unsupported") }
        switch (request.method, parts.count) {
        case (.post, 1):
            return try await createKey(body: request.body, in: keys)
        case (.get, 1):
            let listed = try await keys.apiKeys(subject: Self.userFilter(in: request.target, listing: "GET /api-keys"))
            return .json(.ok, .object(["keys": .array(listed.map(Self.describe))]))
        case (.delete, 2):
            let handle = parts[1].removingPercentEncoding ?? parts[1]
            guard try await keys.revokeKey(handle: handle) else { return .error(.notFound, "not_found") }
            logger.notice("admin revoked an API key", metadata: ["handle": "\(handle)"])
            return .noContent
        case (_, 1):
            return .methodNotAllowed(allowing: "GET, POST")
        case (_, 2):
            return .methodNotAllowed(allowing: "DELETE")
        default:
            return .error(.notFound, "not_found")
        }
    }

    /// The `user` filter of `GET /sessions` and `GET /api-keys`, the one query they take. An
    /// unknown parameter (found by an audit: a typo such as `usr=bob` listed everyone's), a
    /// second `user`, an empty one or one that is not valid percent-encoding is refused with 400
    /// `unexpected_query`, not ignored.
    static func userFilter(in target: String, listing: String) throws -> String? {
        guard let query = target.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false).dropFirst().first else {
            return nil
        }
        var user: String?
        for pair in query.split(separator: "&", omittingEmptySubsequences: false) {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            guard parts[0] == "user", parts.count == 2, user == nil,
                let value = parts[1].replacingOccurrences(of: "+", with: " ").removingPercentEncoding, !value.isEmpty
            else {
                throw AdminError(code: "unexpected_query", message: "\(listing) takes one query parameter, user=SUB (percent-encoded, not empty)")
            }
            user = value
        }
        return user
    }

    /// `DELETE /users/{sub}/api-keys`: ends that user's keys and nothing else (their sessions
    /// stay), for `cloakroom keys revoke --user`. 200 `{"revoked":N}`.
    func revokeKeys(subject: String) async throws -> Response {
        guard let keys = keyStore else { return .error(.notImplemented, "api_keys_unsupported") }
        let count = try await keys.revokeKeys(subject: subject)
        logger.notice("admin revoked a user's API keys", metadata: ["sub": "\(subject)", "count": "\(count)"])
        return .json(.ok, .object(["revoked": .number(Double(count))]))
    }

    private func createKey(body: [UInt8], in keys: any APIKeyStore) async throws -> Response {
        let request = try Self.keyRequest(body)
        let secret = APIKeySecret.random()
        let key = try await keys.createKey(key: secret.key, attributes: request.attributes, name: request.name, ttl: request.ttl)
        logger.notice("admin created an API key", metadata: ["handle": "\(key.handle)", "sub": "\(key.subject)"])
        return .json(.created, .object(["handle": .string(key.handle), "key": .string(secret.text)]))
    }

    /// A `POST /api-keys` body, checked: `attributes` an object with a non-empty string `sub`,
    /// `name` a string if present, `ttl` a configuration duration (`90d`, `12h`), positive and
    /// at most ``APIKeyLifetime/maximum``; ``APIKeyLifetime/default`` when absent.
    static func keyRequest(_ body: [UInt8]) throws -> (attributes: JSONObject, name: String?, ttl: Duration) {
        guard case .object(let request)? = try? JSONValue(parsingUTF8: body) else {
            throw AdminError(code: "invalid_body", message: "the body must be a JSON object")
        }
        guard case .object(let attributes)? = request["attributes"] else {
            throw AdminError(code: "invalid_body", message: "\"attributes\" must be a JSON object")
        }
        try AdminAPI.refuseUnknownFields(of: request, known: ["attributes", "name", "ttl"])
        guard case .string(let sub)? = attributes["sub"], !sub.isEmpty else {
            throw AdminError(code: "missing_sub", message: AdminAPI.subjectRule)
        }
        var name: String?
        switch request["name"] {
        case nil, .null?: name = nil
        case .string(let text)?: name = text.isEmpty ? nil : text
        default: throw AdminError(code: "invalid_name", message: "\"name\" must be a string")
        }
        var ttl = APIKeyLifetime.default
        switch request["ttl"] {
        case nil, .null?: break
        case .string(let text)?:
            guard let parsed = Duration(lifetime: text) else {
                throw AdminError(code: "invalid_ttl", message: "\"ttl\" must be a duration such as 90d, 12h, 30m or 1y")
            }
            ttl = parsed
        default:
            throw AdminError(code: "invalid_ttl", message: "\"ttl\" must be a duration string such as \"90d\"")
        }
        guard ttl > .zero else { throw AdminError(code: "invalid_ttl", message: "\"ttl\" must be positive") }
        guard ttl <= APIKeyLifetime.maximum else {
            throw AdminError(code: "invalid_ttl", message: "\"ttl\" must be at most 365d (1 year)")
        }
        return (attributes, name, ttl)
    }

    /// The SPEC's key object: never the key or its hash.
    public static func describe(_ key: APIKey) -> JSONValue {
        .object([
            "handle": .string(key.handle),
            "sub": .string(key.subject),
            "name": key.name.map(JSONValue.string) ?? .null,
            "attributes": .object(key.attributes),
            "created_at": .string(timestamp(key.createdAt)),
            "last_used_at": key.lastUsedAt.map { .string(timestamp($0)) } ?? .null,
            "expires_at": .string(timestamp(key.expiresAt)),
        ])
    }
}
