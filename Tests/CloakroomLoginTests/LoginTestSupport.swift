import CloakroomLogin
import Foundation

/// A fresh directory under the system temporary directory, removed when the body returns.
func withTemporaryDirectory<T>(_ body: (String) throws -> T) throws -> T {
    let directory = FileManager.default.temporaryDirectory
        .appendingPathComponent("cloakroom-login-\(UUID().uuidString)", isDirectory: true)
    try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: directory) }
    return try body(directory.path)
}

/// Parameters far cheaper than the default, so fixtures hash in about a millisecond.
let cheapParameters = PasswordHash.Parameters(n: 1024, r: 8, p: 1)!

/// A fixture hash of `password`, made with ``cheapParameters``.
func cheapHash(_ password: String) -> PasswordHash {
    try! PasswordHash.make(password: password, parameters: cheapParameters)
}

func write(_ text: String, to path: String) throws {
    try text.write(toFile: path, atomically: false, encoding: .utf8)
}

/// The names in `directory`, sorted.
func listing(_ directory: String) throws -> [String] {
    try FileManager.default.contentsOfDirectory(atPath: directory).sorted()
}

/// The file's permission bits.
func permissions(_ path: String) throws -> Int {
    try (FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as! NSNumber).intValue
}
