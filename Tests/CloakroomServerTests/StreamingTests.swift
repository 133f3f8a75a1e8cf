import CloakroomConfig
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

    /// Bodies on either side of the size copied in after a held response head, one keep-alive
    /// connection: each arrives whole and in order, and the connection is reused throughout.
    @Test func smallAndLargeBodiesAroundTheHeldHeadLimit() async throws {
        let proxy = try await ProxyHarness.start()
        defer { Task { await proxy.stop() } }
        let sizes = [0, 1, 2_047, 2_048, 2_049, 4_095, 4_096, 70_000, 5]
        let out = try await offPool {
            try Curl.run(
                ["-s", "--max-time", "30", "-w", "%{http_code} %{size_download} %{num_connects}\\n"]
                    + sizes.flatMap { ["-o", "/dev/null", "\(proxy.base)/public/download?bytes=\($0)"] })
        }
        let expected = sizes.enumerated().map { "200 \($0.element) \($0.offset == 0 ? 1 : 0)" }
        #expect(out.split(separator: "\n").map(String.init) == expected)
    }
}

/// An upload to an upstream that stops taking it: `response_timeout` bounds the stall.
@Suite(.serialized) struct RequestStallTests {
    /// Found by an audit: an upload to a backend that read nothing (and answered nothing)
    /// waited forever once the socket buffers were full, holding the client, the upstream
    /// connection and its `max_connections` slot after the client gave up. Now no progress for
    /// `response_timeout` is a 504, on both protocols, and the connection is freed.
    @Test(arguments: [false, true])
    func anUploadTheUpstreamStopsTakingIs504(http2: Bool) async throws {
        let sink = try await StalledBackend.start()
        let proxy = try await ProxyHarness.start {
            var upstream = Upstream(kind: .targets([UpstreamTarget(host: "127.0.0.1", port: sink.port)]))
            upstream.responseTimeout = .seconds(1)
            $0.upstreams["sink"] = upstream
            $0.routes.insert(Route(path: "/sink/", upstream: "sink", auth: .none), at: 0)
            $0.client.maxBodyBytes = 64 << 20
        }
        defer { Task { await proxy.stop(); await sink.stop() } }
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("cloakroom-stall-\(UUID().uuidString)")
        FileManager.default.createFile(atPath: file.path, contents: Data(count: 32 << 20))
        defer { try? FileManager.default.removeItem(at: file) }
        let started = Date()
        let upload = try await Curl.get(
            "\(proxy.base)/sink/upload",
            ["-H", "Expect:", "--data-binary", "@\(file.path)", "--max-time", "20"] + (http2 ? ["--http2-prior-knowledge"] : []))
        #expect(upload.status == 504 && upload.body == #"{"error":"gateway_timeout"}"#, "\(upload.status) \(upload.body)")
        #expect(Date().timeIntervalSince(started) < 15, "a second without progress, not the client's patience")
    }
}
