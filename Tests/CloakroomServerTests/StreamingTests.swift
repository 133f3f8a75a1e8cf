import Foundation
import Testing

/// 50 MB each way through the proxy. Memory stays bounded because each side stops reading
/// while the other cannot take more; these tests check the bytes arrive whole.
@Suite(.serialized) struct StreamingTests {
    static let size = 50 * 1024 * 1024

    @Test func largeUploadIsStreamedToTheBackend() async throws {
        let proxy = try await ProxyHarness.start { $0.client.maxBodyBytes = 64 * 1024 * 1024 }
        defer { Task { await proxy.stop() } }
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("cloakroom-upload-\(UUID().uuidString)")
        FileManager.default.createFile(atPath: file.path, contents: Data(count: Self.size))
        defer { try? FileManager.default.removeItem(at: file) }
        let chunked = try await Curl.get(
            "\(proxy.base)/public/upload", ["-X", "POST", "-H", "Transfer-Encoding: chunked", "--data-binary", "@\(file.path)"])
        #expect(chunked.status == 200)
        #expect(chunked.body == "{\"received\":\(Self.size)}")
        let sized = try await Curl.get("\(proxy.base)/public/upload", ["-X", "POST", "--data-binary", "@\(file.path)"])
        #expect(sized.body == "{\"received\":\(Self.size)}")
    }

    @Test func largeDownloadIsStreamedToTheClient() async throws {
        let proxy = try await ProxyHarness.start()
        defer { Task { await proxy.stop() } }
        let out = try await offPool {
            try Curl.run(["-s", "-o", "/dev/null", "-w", "%{http_code} %{size_download}", "--max-time", "60", "\(proxy.base)/public/download?bytes=\(Self.size)"])
        }
        #expect(out == "200 \(Self.size)")
    }
}
