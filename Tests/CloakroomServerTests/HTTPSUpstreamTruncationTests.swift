import CloakroomConfig
import CloakroomServer
import Foundation
import Testing

/// RFC 9112 §9.8: over TLS, a response body read until the close is whole only if the upstream
/// sent close_notify. Found by an audit: a body cut by a bare TCP close was passed on as
/// complete, with a terminating chunk, so the client could not tell.
@Suite(.serialized)
struct HTTPSUpstreamTruncationTests {
    @Test(arguments: [false, true])
    func aBodyReadUntilTheCloseIsWholeOnlyWithCloseNotify(closeNotify: Bool) async throws {
        let pki = try await TestPKI.make()
        defer { pki.remove() }
        let port = try freePort()
        let script = """
            import socket, ssl, sys
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain("\(pki.serverCertificate)", "\(pki.serverKey)")
            server = socket.socket(); server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            server.bind(("127.0.0.1", \(port))); server.listen(8)
            print("ready", flush=True)
            while True:
                raw, _ = server.accept()
                conn = context.wrap_socket(raw, server_side=True)
                data = b""
                while b"\\r\\n\\r\\n" not in data:
                    data += conn.recv(4096)
                conn.sendall(b"HTTP/1.1 200 OK\\r\\nConnection: close\\r\\n\\r\\nread-until-the-close")
                if \(closeNotify ? "True" : "False"):
                    conn.unwrap()
                raw.shutdown(socket.SHUT_RDWR); raw.close()
            """
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", "-c", script]
        let out = Pipe()
        process.standardOutput = out
        process.standardError = FileHandle(forWritingAtPath: "/dev/null")
        try process.run()
        defer { process.terminate() }
        _ = try await offPool { out.fileHandleForReading.availableData }  // "ready"

        let harness = try await ProxyHarness.start { configuration in
            var upstream = Upstream(kind: .targets([UpstreamTarget(host: "localhost", port: port, scheme: .https)]))
            upstream.tls.caPath = pki.ca
            configuration.upstreams["api"] = upstream
        }
        defer { Task { await harness.stop() } }
        let reply = try await RawSocket.sendUntilClosed(port: harness.port, "GET /public/x HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n", timeout: 10)
        #expect(reply.text.hasPrefix("HTTP/1.1 200 "), "\(reply.text)")
        #expect(reply.text.contains("read-until-the-close"), "\(reply.text)")
        // Chunked downstream: a terminating chunk says the body is whole.
        #expect(reply.text.hasSuffix("0\r\n\r\n") == closeNotify, "\(reply.text)")
    }
}
