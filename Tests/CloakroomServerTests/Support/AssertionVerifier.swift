import Foundation
import Testing

/// Identity assertions checked by `Tests/Fixtures/assertion/verify.py` (joserfc), an
/// implementation independent of the Swift code that signs them, and keys made by `openssl`.
enum AssertionVerifier {
    struct Verified {
        var header: [String: Any]
        var claims: [String: Any]
    }

    struct Outcome {
        /// The RFC 7638 thumbprint of each JWK of the set, as joserfc computes it.
        var thumbprints: [String]
        /// Per token: verified, or why not.
        var results: [Result<Verified, VerificationFailure>]
    }

    struct VerificationFailure: Error, CustomStringConvertible { var description: String }

    static let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("Fixtures/assertion/verify.py").path

    /// Verifies `tokens` against the JWKS document `jwks` (its bytes as served).
    static func verify(jwks: String, tokens: [String]) async throws -> Outcome {
        let request = "{\"jwks\":\(jwks),\"tokens\":\(String(decoding: try JSONSerialization.data(withJSONObject: tokens), as: UTF8.self))}"
        let output = try await offPool { () -> Data in
            let process = Process()
            process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            process.arguments = ["python3", script]
            let input = Pipe(), out = Pipe()
            process.standardInput = input
            process.standardOutput = out
            try process.run()
            input.fileHandleForWriting.write(Data(request.utf8))
            try input.fileHandleForWriting.close()
            let data = out.fileHandleForReading.readDataToEndOfFile()
            process.waitUntilExit()
            guard process.terminationStatus == 0 else { throw VerificationFailure(description: "verify.py exited \(process.terminationStatus)") }
            return data
        }
        let object = try #require(try JSONSerialization.jsonObject(with: output) as? [String: Any])
        let thumbprints = try #require(object["thumbprints"] as? [String])
        let results = try #require(object["results"] as? [[String: Any]]).map { entry -> Result<Verified, VerificationFailure> in
            if let error = entry["error"] as? String { return .failure(VerificationFailure(description: error)) }
            return .success(Verified(header: entry["header"] as? [String: Any] ?? [:], claims: entry["claims"] as? [String: Any] ?? [:]))
        }
        return Outcome(thumbprints: thumbprints, results: results)
    }

    /// One token, expected to verify.
    static func verified(_ token: String?, jwks: String, sourceLocation: SourceLocation = #_sourceLocation) async throws -> Verified {
        let token = try #require(token, "no assertion", sourceLocation: sourceLocation)
        let outcome = try await verify(jwks: jwks, tokens: [token])
        return try outcome.results[0].get()
    }

    /// A directory of PEM keys made with `openssl`: `name.pem` for each name.
    static func keys(_ names: [String], curve: String = "prime256v1") async throws -> URL {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("cloakroom-keys-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        for name in names {
            try await openssl(["ecparam", "-name", curve, "-genkey", "-noout", "-out", directory.appendingPathComponent("\(name).pem").path])
        }
        return directory
    }

    static func openssl(_ arguments: [String]) async throws {
        try await offPool {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: "/usr/bin/openssl")
            process.arguments = arguments
            process.standardOutput = FileHandle(forWritingAtPath: "/dev/null")
            process.standardError = FileHandle(forWritingAtPath: "/dev/null")
            try process.run()
            process.waitUntilExit()
            guard process.terminationStatus == 0 else { throw VerificationFailure(description: "openssl \(arguments[0]) failed") }
        }
    }
}
