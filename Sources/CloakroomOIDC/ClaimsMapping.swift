import CloakroomConfig
import CloakroomSessions

/// `login.oidc.claims` applied to a provider's claims: attribute ← claim, only mapped claims
/// become attributes, and the `sub` attribute must come out a non-empty string without control
/// characters (``JSONValue/subject(in:)``, the rule every session's `sub` follows). One rule for
/// every way the provider signs someone in (the login's ID token and userinfo, a bearer
/// access token), so they cannot drift apart.
public struct ClaimsMapping: Sendable, Equatable {
    public let mappings: [ClaimMapping]

    public init(_ mappings: [ClaimMapping]) {
        self.mappings = mappings
    }

    /// Whether some mapped claim is missing from `claims` (the login then asks userinfo).
    public func lacksClaims(in claims: JSONObject) -> Bool {
        mappings.contains { claims[$0.claim] == nil }
    }

    /// The attributes, each claim taken from the first of `sources` that has it; `nil` when the
    /// `sub` attribute is missing, not a non-empty string, or holds a control character (see
    /// ``subjectProblem``).
    public func attributes(from sources: [JSONObject]) -> JSONObject? {
        var attributes: JSONObject = [:]
        for mapping in mappings {
            if let value = sources.lazy.compactMap({ $0[mapping.claim] }).first { attributes[mapping.attribute] = value }
        }
        return JSONValue.subject(in: attributes) == nil ? nil : attributes
    }

    /// Why ``attributes(from:)`` found no subject, for the log (names the claim, never a value).
    public var subjectProblem: String {
        "claim \(mappings.first { $0.attribute == "sub" }?.claim ?? "sub") for the sub attribute is not a non-empty string without control characters"
    }
}
