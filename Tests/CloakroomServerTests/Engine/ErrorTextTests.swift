import Glibc
import NIOCore
import NIOPosix
import Testing

@testable import CloakroomServer

/// Log lines name an error in the system's words (found by an audit: a refused connect read
/// `connection reset (error set): Connection refused) (errno: 111)`, and TLS errors carried the
/// build's source paths).
@Suite struct ErrorTextTests {
    @Test func systemErrorsAreTheirStrerror() {
        #expect(ErrorText.describe(IOError(errnoCode: ECONNREFUSED, reason: "connection reset (error set)")) == "Connection refused (errno 111)")
    }

    @Test func sourcePathsAreDropped() {
        let text = "handshakeFailed(sslError([Error: 268435581 error:1000007d:SSL routines:OPENSSL_internal:CERTIFICATE_VERIFY_FAILED at /work/main/.build/checkouts/swift-nio-ssl/Sources/CNIOBoringSSL/ssl/handshake.cc:320]))"
        #expect(
            ErrorText.withoutSourcePaths(text)
                == "handshakeFailed(sslError([Error: 268435581 error:1000007d:SSL routines:OPENSSL_internal:CERTIFICATE_VERIFY_FAILED]))")
        #expect(ErrorText.withoutSourcePaths("nothing to drop") == "nothing to drop")
    }

    @Test func clientCertificateAlertsAreSaidInWords() {
        let required = "sslError([Error: 268436572 error:1000045c:SSL routines:OPENSSL_internal:TLSV1_ALERT_CERTIFICATE_REQUIRED])"
        #expect(ErrorText.explainingTLSAlerts(required).hasPrefix("the upstream requires a client certificate"))
        let refused = "sslError([Error: 268436502 error:10000416:SSL routines:OPENSSL_internal:SSLV3_ALERT_CERTIFICATE_UNKNOWN])"
        #expect(ErrorText.explainingTLSAlerts(refused).hasPrefix("the upstream refused the client certificate"))
        #expect(ErrorText.explainingTLSAlerts("something else") == "something else")
        // Found by an audit: TLS 1.2's alerts were left raw, and an explained text got its
        // explanation twice when described again.
        let tls12 = "sslError([Error: 268436496 error:10000410:SSL routines:OPENSSL_internal:SSLV3_ALERT_HANDSHAKE_FAILURE])"
        #expect(ErrorText.explainingTLSAlerts(tls12).hasPrefix("the upstream refused the handshake: over TLS 1.2"))
        let version = "sslError([Error: 268436542 error:1000043e:SSL routines:OPENSSL_internal:TLSV1_ALERT_PROTOCOL_VERSION])"
        #expect(ErrorText.explainingTLSAlerts(version).hasPrefix("the upstream speaks no TLS version the proxy accepts"))
        let once = ErrorText.explainingTLSAlerts(refused)
        let twice = ErrorText.explainingTLSAlerts("TLS handshake with https://localhost:8443 failed: " + once)
        #expect(twice.components(separatedBy: "refused the client certificate").count == 2, "\(twice)")
    }

    @Test func aRefusedConnectNamesTheTarget() async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        // A port nothing listens on: bind one, note it, close it.
        let probe = try await ServerBootstrap(group: group).bind(host: "127.0.0.1", port: 0).get()
        let port = probe.localAddress!.port!
        try await probe.close()
        do {
            _ = try await ClientBootstrap(group: group).connect(host: "127.0.0.1", port: port).get()
            Issue.record("connected")
        } catch {
            let text = ErrorText.describe(error)
            #expect(text.hasPrefix("Connection refused (errno 111)"), "\(text)")
            #expect(!text.contains("error set"), "\(text)")
        }
        try await group.shutdownGracefully()
    }
}
