import CloakroomConfig
import CloakroomSessions
import HTTPTypes
import Logging

/// What the request phases need from the keys that sign identity assertions. The server wires
/// in the implementation (CloakroomJOSE's `AssertionSigner`), so this target never links JOSE.
public protocol AssertionSigning: Sendable {
    /// The compact JWS (ES256, the first key's `kid` in its header) of `payload`, the claims' JSON.
    func sign(payload: [UInt8]) throws -> String
    /// The JWKS document publishing every key.
    var jwks: [UInt8] { get }
    /// Readies the signer; ``sign(payload:)`` works once this has returned.
    func prepare() async throws
}

/// `identity.assertion` compiled once per configuration: the claims of each token, the
/// audience of each upstream, the JWKS answer. Tokens themselves are made in
/// ``upstreamFields(identity:lines:session:upstream:memo:)`` and reused per connection
/// through ``AssertionMemo``, so nearly every request costs a few comparisons.
public final class IdentityAssertion: Sendable {
    /// Where every listener, the admin one included, publishes the keys.
    public static let jwksPath = AssertionSettings.keysPath
    /// Short, so a key published for a rotation reaches every backend within minutes; backends
    /// should also refetch when a token names a `kid` they do not have.
    public static let jwksCacheControl = "public, max-age=300"
    /// Claims the proxy sets itself: an attribute by one of these names is never a claim, so
    /// no attribute (which a backend may set with `Session-Update`) can stand in for them.
    static let registeredClaims: Set<String> = ["iss", "aud", "sub", "sid", "iat", "exp", "nbf", "jti"]

    public let settings: AssertionSettings
    public let signer: any AssertionSigning
    let header: HTTPField.Name
    /// Upstream name → `aud`.
    let audiences: [String: String]
    /// Attributes named in `identity.headers`, each once, in file order; registered claims left out.
    let claimAttributes: [String]
    let clock: any WallClock
    let logger: Logger

    /// `nil` when the configuration has no `identity.assertion`.
    public init?(configuration: Configuration, signer: any AssertionSigning, clock: any WallClock, logger: Logger) {
        guard let settings = configuration.identity.assertion, let header = HTTPField.Name(settings.header) else { return nil }
        self.settings = settings
        self.signer = signer
        self.header = header
        self.audiences = configuration.upstreams.mapValues { $0.audience ?? "" }
            .reduce(into: [:]) { result, entry in result[entry.key] = entry.value.isEmpty ? entry.key : entry.value }
        var seen: Set<String> = []
        self.claimAttributes = configuration.identity.headers.map(\.attribute).filter {
            !Self.registeredClaims.contains($0) && seen.insert($0).inserted
        }
        self.clock = clock
        self.logger = logger
    }

    /// The `aud` of tokens for `upstream`.
    public func audience(of upstream: String) -> String { audiences[upstream] ?? upstream }

    /// The claims' JSON for `session` on its way to `upstream`, issued at `issuedAt` (seconds
    /// since 1970): `iss`, `aud`, `sub`, `sid`, `iat`, `exp`, then every attribute named in
    /// `identity.headers` as its JSON value (absent and null ones left out).
    public func claims(for session: Session, upstream: String, issuedAt: Int) -> [UInt8] {
        var claims: JSONObject = [
            "iss": .string(settings.issuer), "aud": .string(audience(of: upstream)), "sub": .string(session.subject),
            "sid": .string(session.handle), "iat": .number(Double(issuedAt)),
            "exp": .number(Double(issuedAt + settings.ttlSeconds)),
        ]
        for name in claimAttributes {
            if let value = session.attributes[name], value != .null { claims[name] = value }
        }
        return Array(JSONValue.object(claims).jsonText.utf8)
    }

    /// The identity fields and lines with this session's token for `upstream` after them: the
    /// memo's when it was made for this very session (handle and attributes) by this
    /// configuration and more than half its lifetime remains, else a new token, signed now.
    func upstreamFields(
        identity fields: [HTTPField], lines: [UInt8], session: Session, upstream: String, memo: AssertionMemo?
    ) -> (fields: [HTTPField], lines: [UInt8]) {
        let now = clock.now().timeIntervalSince1970
        if let memo, let entry = memo.entry(for: self, session: session, upstream: upstream, now: now) {
            return (entry.fields, entry.lines)
        }
        let issuedAt = Int(now.rounded(.down))
        let token: String
        do {
            token = try signer.sign(payload: claims(for: session, upstream: upstream, issuedAt: issuedAt))
        } catch {
            // Unreachable once the server prepared the signer; a backend that checks tokens
            // refuses the request, one that does not sees what it would without the assertion.
            logger.error("identity assertion not signed", metadata: ["handle": "\(session.handle)", "error": "\(error)"])
            return (fields, lines)
        }
        let field = HTTPField(name: header, value: token)
        let entry = AssertionMemo.Entry(
            upstream: upstream, fields: fields + [field], lines: lines + UpstreamAdditions.lines([field]),
            expiresAt: Double(issuedAt + settings.ttlSeconds))
        memo?.store(entry, for: self, session: session, ttl: Double(settings.ttlSeconds))
        return (entry.fields, entry.lines)
    }

    /// `GET` (or `HEAD`) of ``jwksPath``: the public keys, cacheable for a short while.
    public func jwksResponse(requestID: String) -> LocalResponse {
        var fields = HTTPFields()
        fields[.contentType] = "application/json"
        fields[.cacheControl] = Self.jwksCacheControl
        fields[.xRequestID] = requestID
        return LocalResponse(head: HTTPResponse(status: .ok, headerFields: fields), body: signer.jwks)
    }
}
