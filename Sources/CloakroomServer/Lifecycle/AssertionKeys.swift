import CloakroomConfig
import CloakroomJOSE
import CloakroomProxy
import Foundation
import Synchronization

/// CloakroomJOSE's signer as the ``AssertionSigning`` the request phases use.
extension AssertionSigner: AssertionSigning {}

/// Reads `identity.assertion.signing_keys`: at start, at every reload (a changed key file
/// takes effect for new tokens at once) and for `cloakroom check`, each problem with its key
/// path.
enum AssertionKeys {
    /// The keys, in order, or every problem with them, one per line.
    static func load(_ settings: AssertionSettings) throws -> [AssertionKey] {
        let (keys, problems) = read(settings)
        guard problems.isEmpty else { throw ServerStartError.unsupported(problems.joined(separator: "\n")) }
        return keys
    }

    /// Every problem with the configured key files, `key.path: message`.
    static func problems(in configuration: Configuration) -> [String] {
        guard let settings = configuration.identity.assertion else { return [] }
        return read(settings).problems
    }

    private static func read(_ settings: AssertionSettings) -> (keys: [AssertionKey], problems: [String]) {
        var keys: [AssertionKey] = [], problems: [String] = []
        var firstIndex: [String: Int] = [:]
        for (index, path) in settings.signingKeys.enumerated() where !path.isEmpty {  // empty: reported by the loader
            let keyPath = "identity.assertion.signing_keys[\(index)]"
            let text: String
            switch contents(of: path) {
            case .failure(let problem):
                problems.append("\(keyPath): \(problem.message)")
                continue
            case .success(let contents):
                text = contents
            }
            do {
                let key = try AssertionKey(pem: text)
                if let earlier = firstIndex[key.kid] {
                    problems.append("\(keyPath): \(quoted(path)) holds the same key as signing_keys[\(earlier)]")
                    continue
                }
                firstIndex[key.kid] = index
                keys.append(key)
            } catch {
                problems.append("\(keyPath): \(quoted(path)) \(error)")
            }
        }
        return (keys, problems)
    }

    struct FileProblem: Error { let message: String }

    private static func contents(of path: String) -> Result<String, FileProblem> {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            return .failure(FileProblem(message: "file \(quoted(path)) does not exist"))
        }
        guard !isDirectory.boolValue else { return .failure(FileProblem(message: "\(quoted(path)) is a directory, not a file")) }
        guard let data = FileManager.default.contents(atPath: path) else {
            return .failure(FileProblem(message: "file \(quoted(path)) is not readable by this user (check its owner and mode)"))
        }
        return .success(String(decoding: data, as: UTF8.self))
    }

    private static func quoted(_ path: String) -> String {
        "\"" + path.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"") + "\""
    }
}

/// The signer of the running configuration, kept across reloads that leave the keys as they
/// were (it is prepared already), replaced when they change.
final class AssertionSigners: Sendable {
    /// Made once, when `signing_keys` is empty (memory store only), and kept across reloads:
    /// backends caching the JWKS keep verifying.
    let fallbackKey = AssertionKey.generate()
    private let current = Mutex<AssertionSigner?>(nil)

    func signer(for settings: AssertionSettings) throws -> AssertionSigner {
        let keys = settings.signingKeys.isEmpty ? [fallbackKey] : try AssertionKeys.load(settings)
        guard !keys.isEmpty else { throw ServerStartError.unsupported("identity.assertion.signing_keys: no key to sign with") }
        return current.withLock { current in
            if let existing = current, existing.keys.map(\.kid) == keys.map(\.kid) { return existing }
            let signer = AssertionSigner(keys: keys)
            current = signer
            return signer
        }
    }
}

extension ProxyRuntime {
    /// What must complete before the runtime serves: the assertion signer fetches its
    /// algorithm from jwt-kit once. Awaited at start and by a reload before it swaps.
    func prepare() async throws {
        do {
            try await policy.assertion?.signer.prepare()
        } catch {
            throw ServerStartError.unsupported("identity.assertion: the signing key cannot be used: \(error)")
        }
    }
}
