import JWTKit
import Synchronization

import class Foundation.JSONEncoder

/// Signs identity assertions with the first of its keys (ES256) and publishes all of them as a
/// JWKS, so keys rotate like cookie secrets: publish the new one second, move it first once
/// every backend has it, drop the old one after the tokens it signed expired.
///
/// The payload (the claims) is the caller's; this type adds the JOSE header (`alg`, `kid`,
/// `typ`) and the signature. Signing is synchronous, for the request path: jwt-kit hands out
/// its signing algorithm only through its key-collection actor, so ``prepare()`` fetches it
/// once, before the signer serves (the server awaits it at start and at every reload).
public final class AssertionSigner: Sendable {
    /// Never empty; the first signs.
    public let keys: [AssertionKey]
    /// The JWKS document: `{"keys":[...]}`, every key's public half, in order.
    public let jwks: [UInt8]
    /// The encoded JOSE header and its `.`: every token starts with it.
    private let headerPart: String
    private let algorithm = Mutex<(any JWTAlgorithm)?>(nil)

    /// - Precondition: `keys` is not empty.
    public init(keys: [AssertionKey]) {
        precondition(!keys.isEmpty, "an assertion signer needs a key")
        self.keys = keys
        var header = JWTHeader()
        header.alg = "ES256"
        header.kid = keys[0].kid
        header.typ = "JWT"
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        // Encoding strings and a list of string-keyed objects cannot fail.
        let headerJSON = (try? encoder.encode(header)).map { Array($0) } ?? []
        headerPart = AssertionBase64URL.encode(headerJSON) + "."
        jwks = (try? encoder.encode(JWKS(keys: keys.map(\.publicJWK)))).map { Array($0) } ?? []
    }

    /// The `kid` of the signing key.
    public var signingKid: String { keys[0].kid }

    /// Whether ``prepare()`` has completed.
    public var isPrepared: Bool { algorithm.withLock { $0 != nil } }

    /// Fetches jwt-kit's ES256 algorithm for the first key. Idempotent.
    public func prepare() async throws {
        if isPrepared { return }
        let kid = JWKIdentifier(string: keys[0].kid)
        let collection = JWTKeyCollection()
        await collection.add(ecdsa: keys[0].privateKey, kid: kid)
        let signing = try await collection.getKey(for: kid, alg: "ES256")
        algorithm.withLock { $0 = signing }
    }

    /// The compact JWS of `payload` (the claims' JSON), signed by the first key.
    public func sign(payload: [UInt8]) throws(AssertionSigningError) -> String {
        guard let algorithm = algorithm.withLock({ $0 }) else { throw .notPrepared }
        let signingInput = headerPart + AssertionBase64URL.encode(payload)
        let signature: [UInt8]
        do {
            signature = try algorithm.sign(Array(signingInput.utf8))
        } catch {
            throw .failed("\(error)")
        }
        return signingInput + "." + AssertionBase64URL.encode(signature)
    }
}

public enum AssertionSigningError: Error, Sendable, Equatable, CustomStringConvertible {
    /// ``AssertionSigner/prepare()`` has not completed.
    case notPrepared
    case failed(String)

    public var description: String {
        switch self {
        case .notPrepared: return "assertion signer used before prepare()"
        case .failed(let why): return "signing failed: \(why)"
        }
    }
}
