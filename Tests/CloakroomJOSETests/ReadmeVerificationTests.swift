import Foundation
import JWTKit
import Testing

@testable import CloakroomJOSE

/// The README's Swift example for backends, compiled and run against a token the signer made:
/// if the example stops working, this fails.
@Suite struct ReadmeVerificationTests {
    struct Assertion: JWTPayload {
        var iss: IssuerClaim, aud: AudienceClaim, sub: SubjectClaim, exp: ExpirationClaim
        var sid: String
        var roles: [String]?
        func verify(using algorithm: some JWTAlgorithm) throws {
            guard iss.value == "cloakroom" else { throw JWTError.claimVerificationFailure(failedClaim: iss, reason: "issuer") }
            try aud.verifyIntendedAudience(includes: "api")
            try exp.verifyNotExpired()
        }
    }

    func token(aud: String, exp: Int) async throws -> (token: String, jwks: String) {
        let signer = AssertionSigner(keys: [AssertionKey.generate(), AssertionKey.generate()])
        try await signer.prepare()
        let claims = #"{"aud":"\#(aud)","exp":\#(exp),"iat":\#(exp - 120),"iss":"cloakroom","roles":["reader"],"sid":"h1","sub":"alice"}"#
        return (try signer.sign(payload: Array(claims.utf8)), String(decoding: signer.jwks, as: UTF8.self))
    }

    @Test func theExampleAcceptsAGoodTokenAndRefusesAnotherAudienceOrAnExpiredOne() async throws {
        let now = Int(Date().timeIntervalSince1970)
        let good = try await token(aud: "api", exp: now + 60)
        let keys = JWTKeyCollection()
        try await keys.add(jwksJSON: good.jwks)
        let assertion = try await keys.verify(good.token, as: Assertion.self)
        #expect(assertion.sub.value == "alice")
        #expect(assertion.sid == "h1")
        #expect(assertion.roles == ["reader"])

        let billing = try await token(aud: "billing", exp: now + 60)
        let billingKeys = JWTKeyCollection()
        try await billingKeys.add(jwksJSON: billing.jwks)
        await #expect(throws: (any Error).self) { try await billingKeys.verify(billing.token, as: Assertion.self) }

        let expired = try await token(aud: "api", exp: now - 1)
        let expiredKeys = JWTKeyCollection()
        try await expiredKeys.add(jwksJSON: expired.jwks)
        await #expect(throws: (any Error).self) { try await expiredKeys.verify(expired.token, as: Assertion.self) }

        // Signed by a key the set does not hold: refused.
        await #expect(throws: (any Error).self) { try await keys.verify(billing.token, as: Assertion.self) }
    }
}
