import JWTKit
import Synchronization

import struct Foundation.Date

/// A provider's signing keys (JWKS), fetched on first use and again when a token names a `kid`
/// the set does not hold — at most once per ``minimumRefetchInterval``, so a stream of tokens
/// with made-up `kid`s cannot make the proxy hammer the provider.
///
/// Only public keys usable for the accepted algorithms are kept (RSA, EC P-256, Ed25519);
/// encryption keys (`use: enc`) and keys jwt-kit cannot read are skipped.
///
/// One key collection per accepted algorithm: a key that names its `alg` is in that
/// algorithm's only, and one that does not (common for RSA keys, which serve RS256 and PS256
/// alike) in each algorithm its type can serve. jwt-kit ties a key without `alg` to the first
/// algorithm a token asks of it, for good, so in one shared collection a single token — even a
/// forged one, its signature never checked — claiming PS256 for the provider's RSA key made
/// every later RS256 login fail.
///
/// A fetch that fails is remembered for ``failureInterval``: tokens that need the keys meanwhile
/// get the same failure at once (502 upstream) instead of each waiting out the HTTP client's
/// connect timeout against a provider that is down. Concurrent fetches are one.
public actor ProviderKeySet {
    public typealias Fetch = @Sendable () async throws -> [UInt8]

    public static let minimumRefetchInterval: Double = 60
    public static let failureInterval: Double = 0.5

    private let fetch: Fetch
    private let now: @Sendable () -> Date
    /// By algorithm (`RS256`, …): the keys that may check a token signed with it.
    private var keys: [String: JWTKeyCollection] = [:]
    private var kids: Set<String> = []
    /// By algorithm: the `kid`s of the keys in that algorithm's collection. A token naming a
    /// `kid` is checked with that key alone; jwt-kit would fall back to another key of the
    /// collection when the named one is not in it (a PS256-only JWK named by an RS256 token).
    private var kidsByAlgorithm: [String: Set<String>] = [:]
    /// By algorithm: each of its keys in a collection of its own, for a token without `kid`,
    /// which is tried against every one (jwt-kit's `iteratingKeys` stopped at the first key in
    /// a mixed set, found by an audit: an ES256 token met the provider's RSA key and was refused).
    private var singleKeys: [String: [JWTKeyCollection]] = [:]
    private var lastFetch: Date?
    private var lastFailure: (at: Date, error: TokenRejection)?
    /// The fetch under way, joined by every token that needs it.
    private var refreshing: Task<Void, any Error>?

    /// - Parameters:
    ///   - fetch: returns the JWKS document (the provider's `jwks_uri`).
    ///   - now: the clock, injected for tests of the refetch interval.
    public init(now: @escaping @Sendable () -> Date = { Date() }, fetch: @escaping Fetch) {
        self.fetch = fetch
        self.now = now
    }

    /// The keys to try, in turn, on a token signed with `algorithm` (one of
    /// ``TokenVerifier/acceptedAlgorithms``) by key `kid`: the collection that holds it (the
    /// token's `kid` picks it there), or without `kid` every key able to check that algorithm,
    /// each alone. Refetches once when `kid` is unknown and the last fetch is old enough.
    func collections(for kid: String?, algorithm: String) async throws -> [JWTKeyCollection] {
        if lastFetch == nil { try await refresh() }
        if let kid, !kids.contains(kid) {
            if let last = lastFetch, now().timeIntervalSince(last) < Self.minimumRefetchInterval {
                throw TokenRejection.unknownKey
            }
            try await refresh()
            guard kids.contains(kid) else { throw TokenRejection.unknownKey }
        }
        if let kid, kidsByAlgorithm[algorithm]?.contains(kid) != true { throw TokenRejection.keyAlgorithmMismatch }
        guard kid != nil else { return singleKeys[algorithm] ?? [] }
        return [keys[algorithm] ?? JWTKeyCollection()]
    }

    private func refresh() async throws {
        if let refreshing { return try await refreshing.value }
        if let lastFailure, now().timeIntervalSince(lastFailure.at) < Self.failureInterval { throw lastFailure.error }
        let task = Task { try await self.load() }
        refreshing = task
        defer { refreshing = nil }
        do {
            try await task.value
            lastFailure = nil
        } catch let rejection as TokenRejection {
            if case .keysUnavailable = rejection { lastFailure = (now(), rejection) }
            throw rejection
        }
    }

    private func load() async throws {
        let document: [UInt8]
        do {
            document = try await fetch()
        } catch {
            throw TokenRejection.keysUnavailable("\(error)")
        }
        lastFetch = now()
        // Key by key: one key of a type or algorithm jwt-kit does not know (an `oct` key, an
        // encryption algorithm) must not make the whole set unreadable.
        guard let object = try? JSONSerialization.jsonObject(with: Data(document)) as? [String: Any],
            let entries = object["keys"] as? [[String: Any]]
        else {
            throw TokenRejection.keysUnavailable("JWKS is not a JSON object with keys")
        }
        var jwks: [JWK] = []
        for (index, entry) in entries.enumerated() where (entry["use"] as? String) != "enc" {
            guard let data = try? JSONSerialization.data(withJSONObject: entry),
                var jwk = try? JSONDecoder().decode(JWK.self, from: data), jwk.privateExponent == nil
            else { continue }
            if jwk.keyIdentifier == nil { jwk.keyIdentifier = JWKIdentifier(string: "cloakroom-unnamed-\(index)") }
            jwks.append(jwk)
        }
        var collections: [String: JWTKeyCollection] = [:]
        var kids: Set<String> = []
        var kidsByAlgorithm: [String: Set<String>] = [:]
        var singleKeys: [String: [JWTKeyCollection]] = [:]
        for algorithm in TokenVerifier.acceptedAlgorithms {
            let collection = JWTKeyCollection()
            for var jwk in jwks {
                if let named = jwk.algorithm {
                    guard named.rawValue == algorithm else { continue }
                } else {
                    jwk.algorithm = JWK.Algorithm(rawValue: algorithm)
                }
                // A key of another type (an EC key for RS256) is refused here and skipped.
                let single = JWTKeyCollection()
                guard (try? await single.add(jwk: jwk)) != nil, (try? await collection.add(jwk: jwk)) != nil,
                    let kid = jwk.keyIdentifier?.string
                else { continue }
                kids.insert(kid)
                kidsByAlgorithm[algorithm, default: []].insert(kid)
                singleKeys[algorithm, default: []].append(single)
            }
            collections[algorithm] = collection
        }
        self.keys = collections
        self.kids = kids
        self.kidsByAlgorithm = kidsByAlgorithm
        self.singleKeys = singleKeys
    }
}

import struct Foundation.Data
import class Foundation.JSONDecoder
import class Foundation.JSONSerialization
