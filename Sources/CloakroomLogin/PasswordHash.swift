import Crypto
import CryptoExtras
import struct Foundation.Data

/// A slow, salted password hash (scrypt) with its parameters stored alongside, so the work
/// factor can be raised later while hashes made with the old parameters keep verifying.
///
/// Encoded as one string of four `$`-separated fields:
///
///     scrypt$N=32768,r=8,p=1$<salt>$<hash>
///
/// - `scrypt`: the algorithm; anything else is unknown and does not parse.
/// - `N=…,r=…,p=…`: cost, block size and parallelism, in that order, plain decimal (see
///   ``Parameters`` for the accepted ranges).
/// - `<salt>`, `<hash>`: standard base64 (RFC 4648 §4) with padding. ``make(password:)`` draws
///   a 16-byte salt from the system CSPRNG and derives 32 bytes; parsing accepts 8–64-byte
///   salts and 16–64-byte hashes, and verification derives as many bytes as the hash holds.
///
/// Parsing is strict and canonical: every accepted string re-encodes to itself, so two hashes
/// are equal exactly when their encodings are.
///
/// The password is hashed as its exact UTF-8 bytes (no Unicode normalization).
///
/// - Important: Hashing and verifying take tens of milliseconds of CPU and tens of megabytes of
///   memory by design. Never call them on an event loop.
public struct PasswordHash: Sendable, Equatable, CustomStringConvertible, CustomDebugStringConvertible {
    /// The algorithm name, the first field of ``encoded``.
    public static let algorithm = "scrypt"

    public private(set) var parameters: Parameters
    private var salt: [UInt8]
    private var hash: [UInt8]

    private init(parameters: Parameters, salt: [UInt8], hash: [UInt8]) {
        self.parameters = parameters
        self.salt = salt
        self.hash = hash
    }

    /// Parses an ``encoded`` string; `nil` when it is malformed, names another algorithm, or
    /// has parameters or lengths outside the accepted ranges.
    public init?(encoded: String) {
        let fields = encoded.split(separator: "$", omittingEmptySubsequences: false)
        guard fields.count == 4, fields[0] == Self.algorithm,
              let parameters = Parameters(encoded: fields[1]),
              let salt = Self.decodeBase64(fields[2]), (8...64).contains(salt.count),
              let hash = Self.decodeBase64(fields[3]), (16...64).contains(hash.count)
        else { return nil }
        self.init(parameters: parameters, salt: salt, hash: hash)
    }

    /// The one-string form stored in the users file.
    public var encoded: String {
        "\(Self.algorithm)$\(parameters.encoded)$\(Data(salt).base64EncodedString())$\(Data(hash).base64EncodedString())"
    }

    /// Hashes `password` with the ``Parameters/default`` parameters and a fresh random salt.
    public static func make(password: String) throws -> PasswordHash {
        try make(password: password, parameters: .default)
    }

    /// Hashes `password` with the given parameters and a fresh random salt. Lower parameters are
    /// for tests that need fast hashes; production hashes use ``make(password:)``.
    public static func make(password: String, parameters: Parameters) throws -> PasswordHash {
        guard !password.isEmpty else { throw PasswordHashError.emptyPassword }
        var generator = SystemRandomNumberGenerator()
        let salt = (0..<16).map { _ in UInt8.random(in: .min ... .max, using: &generator) }
        let hash = try derive(Array(password.utf8), salt: salt, parameters: parameters, count: 32)
        return PasswordHash(parameters: parameters, salt: salt, hash: hash)
    }

    /// Whether `password` is the one this hash was made from. The derived bytes are compared in
    /// constant time. An empty password never verifies (but costs as much as any other).
    public func verify(_ password: String) -> Bool {
        let bytes = password.isEmpty ? [0] : Array(password.utf8)
        guard let derived = try? Self.derive(bytes, salt: salt, parameters: parameters, count: hash.count) else {
            return false
        }
        var difference: UInt8 = 0
        for (x, y) in zip(derived, hash) { difference |= x ^ y }
        return difference == 0 && !password.isEmpty
    }

    /// Does the work of verifying against a hash made with the default parameters and discards
    /// the result. Call it for an unknown user so that a login attempt for a user that does not
    /// exist takes as long as a wrong password for one that does.
    public static func verifyDummy(_ password: String) {
        _ = dummy.verify(password)
    }

    /// A hash no password derives to (all-zero bytes), with the default parameters.
    private static let dummy = PasswordHash(
        parameters: .default, salt: [UInt8](repeating: 0, count: 16), hash: [UInt8](repeating: 0, count: 32))

    /// The algorithm and parameters, never the salt or hash bytes: `scrypt(N=32768,r=8,p=1)`.
    public var description: String {
        "\(Self.algorithm)(\(parameters.encoded))"
    }

    /// Same as ``description``, so `debugPrint` and string interpolation in logs never show
    /// the hash bytes either.
    public var debugDescription: String { description }

    private static func derive(_ password: [UInt8], salt: [UInt8], parameters: Parameters, count: Int) throws -> [UInt8] {
        let key = try KDF.Scrypt.deriveKey(
            from: password, salt: salt, outputByteCount: count,
            rounds: parameters.n, blockSize: parameters.r, parallelism: parameters.p)
        return key.withUnsafeBytes { Array($0) }
    }

    /// Strict standard base64: decodes, and the result re-encodes to exactly `text`.
    private static func decodeBase64(_ text: Substring) -> [UInt8]? {
        guard let data = Data(base64Encoded: String(text)), data.base64EncodedString() == text else { return nil }
        return Array(data)
    }
}

/// Why a password could not be hashed.
public enum PasswordHashError: Error, Sendable, Equatable, CustomStringConvertible {
    /// Empty passwords are refused: they would only ever be set by mistake.
    case emptyPassword

    public var description: String {
        switch self {
        case .emptyPassword: "the password is empty"
        }
    }
}
