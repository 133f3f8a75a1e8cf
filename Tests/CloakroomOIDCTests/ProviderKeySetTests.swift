@testable import CloakroomJOSE
import Crypto
import CryptoExtras
import Foundation
import Synchronization
import Testing

/// The key set is fetched again for an unknown `kid`, at most once a minute.
@Suite struct ProviderKeySetTests {
    static let first = #"{"kty":"EC","kid":"k1","use":"sig","crv":"P-256","x":"QpIR_D1oNxh-ujuzbs5mWThlLsMultI0a7ln9wo6WVw","y":"YIVZSPnlA4-vIlPslfCMNopuyuUgN6zosgNH9HI6ibM"}"#
    static let second = #"{"kty":"EC","kid":"k2","use":"sig","crv":"P-256","x":"BgIcy83c-MC7iwlRtRLA9K2pfk-FxKzVFhKv1Fk6bCQ","y":"ISQMaQ3jxg7HCn-MwyE7XUw8HjhMgUY4J9_ATR1wnX8"}"#
    static let encryption = #"{"kty":"RSA","kid":"enc","use":"enc","n":"AQAB","e":"AQAB"}"#
    static let symmetric = #"{"kty":"oct","kid":"hmac","k":"c2VjcmV0"}"#

    final class Provider: Sendable {
        let state = Mutex<(keys: [String], fetches: Int, now: Date)>(([first, encryption, symmetric], 0, Date(timeIntervalSince1970: 1_800_000_000)))
        func fetch() -> [UInt8] {
            state.withLock { state in
                state.fetches += 1
                return Array("{\"keys\":[\(state.keys.joined(separator: ","))]}".utf8)
            }
        }
        var fetches: Int { state.withLock { $0.fetches } }
        var now: Date { state.withLock { $0.now } }
        func advance(_ seconds: Double) { state.withLock { $0.now = $0.now.addingTimeInterval(seconds) } }
        func rotate() { state.withLock { $0.keys.append(ProviderKeySetTests.second) } }
    }

    @Test func unknownKidRefetchesAtMostOnceAMinute() async throws {
        let provider = Provider()
        let keys = ProviderKeySet(now: { provider.now }) { provider.fetch() }
        _ = try await keys.collections(for: "k1", algorithm: "ES256")
        #expect(provider.fetches == 1, "fetched on first use")
        _ = try await keys.collections(for: "k1", algorithm: "ES256")
        #expect(provider.fetches == 1, "a known kid costs no fetch")

        provider.rotate()
        await #expect(throws: TokenRejection.unknownKey) { _ = try await keys.collections(for: "k2", algorithm: "ES256") }
        #expect(provider.fetches == 1, "the last fetch is too recent")
        provider.advance(61)
        _ = try await keys.collections(for: "k2", algorithm: "ES256")
        #expect(provider.fetches == 2, "a minute later the new key is fetched")
        await #expect(throws: TokenRejection.unknownKey) { _ = try await keys.collections(for: "made-up", algorithm: "ES256") }
        await #expect(throws: TokenRejection.unknownKey) { _ = try await keys.collections(for: "made-up-too", algorithm: "ES256") }
        #expect(provider.fetches == 2, "made-up kids cannot make the proxy hammer the provider")
    }

    /// Tokens arriving together while the keys are fetched share that one fetch.
    @Test func concurrentFetchesAreOne() async throws {
        let fetches = Mutex(0)
        let keys = ProviderKeySet {
            fetches.withLock { $0 += 1 }
            try await Task.sleep(for: .milliseconds(200))
            return Array("{\"keys\":[\(Self.first)]}".utf8)
        }
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<8 { group.addTask { _ = try await keys.collections(for: "k1", algorithm: "ES256") } }
            try await group.waitForAll()
        }
        #expect(fetches.withLock { $0 } == 1)
    }

    /// A token is checked with the key its `kid` names, for the algorithm it names. Found by a
    /// black-box audit: with two RSA keys, one serving any algorithm and the other PS256 only,
    /// an RS256 token signed with the first but naming the second verified (jwt-kit fell back
    /// to the RS256 collection's other key when the named one was not in it).
    /// A token without `kid` is checked against every key that can serve its algorithm (found
    /// by an audit: an ES256 token was tried against the provider's RSA key alone, and refused).
    @Test(arguments: ["RS256", "PS256", "ES256"])
    func aTokenWithoutKidIsTriedWithEveryKeyOfItsAlgorithm(alg: String) async throws {
        let provider = SigningProvider(namesRSAAlgorithm: false)
        let now = Date()
        let verifier = TokenVerifier(issuer: SigningProvider.issuer, rule: .resource("orders-api"), keys: provider.keySet(now: { now }))
        let token = provider.accessToken(alg: alg, kid: nil, now: now)
        let verified = try await verifier.verify(token, now: now)
        #expect(verified.claims.sub == "diana")
    }

    @Test func aKidNamingAKeyOfAnotherAlgorithmIsRefused() async throws {
        let provider = SigningProvider()
        let signing = try SigningProvider.rsa.publicKey.getKeyPrimitives()
        let other = try _RSA.Signing.PrivateKey(keySize: .bits2048).publicKey.getKeyPrimitives()
        func rsaJWK(_ kid: String, _ alg: String?, _ key: _RSA.Signing.PublicKey.Primitives) -> String {
            #"{"kty":"RSA","kid":"\#(kid)",\#(alg.map { #""alg":"\#($0)","# } ?? "")"n":"\#(SigningProvider.base64URL(key.modulus))","e":"\#(SigningProvider.base64URL(key.publicExponent))"}"#
        }
        let jwks = Array(#"{"keys":[\#(rsaJWK("any", nil, signing)),\#(rsaJWK("ps-only", "PS256", other))]}"#.utf8)
        let now = Date()
        let verifier = TokenVerifier(issuer: SigningProvider.issuer, rule: .resource("orders-api"), keys: ProviderKeySet(now: { now }) { jwks })
        func token(kid: String) -> String {
            let t = Int(now.timeIntervalSince1970)
            return provider.token(
                header: #"{"alg":"RS256","kid":"\#(kid)"}"#,
                payload: #"{"iss":"\#(SigningProvider.issuer)","aud":"orders-api","sub":"diana","iat":\#(t),"exp":\#(t + 3600)}"#)
        }
        _ = try await verifier.verify(token(kid: "any"), now: now)
        await #expect(throws: TokenRejection.keyAlgorithmMismatch) { _ = try await verifier.verify(token(kid: "ps-only"), now: now) }

        // A correctly signed token with a claim of the wrong type is refused as such, not as a
        // bad signature (found by an audit).
        let t = Int(now.timeIntervalSince1970)
        let numericSub = provider.token(
            header: #"{"alg":"RS256","kid":"any"}"#,
            payload: #"{"iss":"\#(SigningProvider.issuer)","aud":"orders-api","sub":123,"iat":\#(t),"exp":\#(t + 3600)}"#)
        await #expect(throws: TokenRejection.malformed("a claim is not of the type it must be")) {
            _ = try await verifier.verify(numericSub, now: now)
        }
        let badSignature = provider.token(
            header: #"{"alg":"RS256","kid":"any"}"#,
            payload: #"{"iss":"\#(SigningProvider.issuer)","aud":"orders-api","sub":"diana","iat":\#(t),"exp":\#(t + 3600)}"#)
        var bytes = Array(badSignature.utf8)
        bytes[bytes.count - 5] = bytes[bytes.count - 5] == UInt8(ascii: "A") ? UInt8(ascii: "B") : UInt8(ascii: "A")
        await #expect(throws: TokenRejection.badSignature) { _ = try await verifier.verify(String(decoding: bytes, as: UTF8.self), now: now) }
    }

    @Test func encryptionAndSymmetricKeysAreNeverUsed() async throws {
        let provider = Provider()
        let keys = ProviderKeySet(now: { provider.now }) { provider.fetch() }
        await #expect(throws: TokenRejection.unknownKey) { _ = try await keys.collections(for: "hmac", algorithm: "ES256") }
        await #expect(throws: TokenRejection.unknownKey) { _ = try await keys.collections(for: "enc", algorithm: "ES256") }
    }

    @Test func noneAndHMACAreRefusedBeforeAnyKeyIsFetched() async throws {
        let provider = Provider()
        let verifier = TokenVerifier(issuer: "https://idp", audience: "cloakroom", keys: ProviderKeySet(now: { provider.now }) { provider.fetch() })
        func token(_ header: String) -> String {
            Data(header.utf8).base64EncodedString().replacingOccurrences(of: "=", with: "") + ".eyJzdWIiOiJ4In0.c2ln"
        }
        for alg in ["none", "HS256", "HS384", "HS512", "RS384", "ES512", "nOnE"] {
            await #expect(throws: TokenRejection.algorithmRefused(alg)) {
                _ = try await verifier.verify(token(#"{"alg":"\#(alg)","kid":"k1"}"#), now: provider.now)
            }
        }
        await #expect(throws: TokenRejection.self) { _ = try await verifier.verify("not.a-jwt", now: provider.now) }
        #expect(provider.fetches == 0)
    }
}
