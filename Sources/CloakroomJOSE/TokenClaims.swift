import JWTKit

/// The registered claims Cloakroom checks, decoded leniently (`aud` as a string or a list,
/// times as numbers), with every other claim left to the caller through
/// ``VerifiedToken/payload``.
public struct TokenClaims: JWTPayload, Equatable {
    public var iss: String?
    public var sub: String?
    public var aud: [String]?
    public var azp: String?
    public var exp: Double?
    public var iat: Double?
    public var nbf: Double?
    public var nonce: String?
    public var sid: String?
    public var jti: String?
    /// Names of the members of `events` whose value is an object (back-channel logout tokens).
    public var events: [String]?

    enum CodingKeys: String, CodingKey {
        case iss, sub, aud, azp, exp, iat, nbf, nonce, sid, jti, events
    }

    public init() {}

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        iss = try container.decodeIfPresent(String.self, forKey: .iss)
        sub = try container.decodeIfPresent(String.self, forKey: .sub)
        if let single = try? container.decodeIfPresent(String.self, forKey: .aud) {
            aud = [single]
        } else {
            aud = try container.decodeIfPresent([String].self, forKey: .aud)
        }
        azp = try container.decodeIfPresent(String.self, forKey: .azp)
        exp = try container.decodeIfPresent(Double.self, forKey: .exp)
        iat = try container.decodeIfPresent(Double.self, forKey: .iat)
        nbf = try container.decodeIfPresent(Double.self, forKey: .nbf)
        nonce = try container.decodeIfPresent(String.self, forKey: .nonce)
        sid = try container.decodeIfPresent(String.self, forKey: .sid)
        jti = try container.decodeIfPresent(String.self, forKey: .jti)
        if container.contains(.events) {
            // Back-Channel Logout 1.0 §2.4: an event's value is a JSON object ({} for logout);
            // a member holding anything else names no event.
            let events = try container.nestedContainer(keyedBy: AnyKey.self, forKey: .events)
            self.events = events.allKeys.filter { (try? events.nestedContainer(keyedBy: AnyKey.self, forKey: $0)) != nil }.map(\.stringValue)
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encodeIfPresent(iss, forKey: .iss)
        try container.encodeIfPresent(sub, forKey: .sub)
        try container.encodeIfPresent(aud, forKey: .aud)
        try container.encodeIfPresent(azp, forKey: .azp)
        try container.encodeIfPresent(exp, forKey: .exp)
        try container.encodeIfPresent(iat, forKey: .iat)
        try container.encodeIfPresent(nbf, forKey: .nbf)
        try container.encodeIfPresent(nonce, forKey: .nonce)
        try container.encodeIfPresent(sid, forKey: .sid)
        try container.encodeIfPresent(jti, forKey: .jti)
    }

    /// Claims are checked by ``TokenVerifier`` against its own clock, not here.
    public func verify(using algorithm: some JWTAlgorithm) async throws {}
}

struct AnyKey: CodingKey {
    var stringValue: String
    var intValue: Int? { nil }
    init(stringValue: String) { self.stringValue = stringValue }
    init?(intValue: Int) { nil }
}
