import CloakroomConfig
import CloakroomServer
import Foundation
import Logging
import Testing

/// HTTPS upstreams over real sockets: backends speaking TLS with a CA this test makes, one
/// requiring a client certificate, one presenting a certificate for another name; pooled
/// connections (one handshake per connection), SNI, IP SANs, `insecure_skip_verify`, and the
/// files checked with their key paths.
@Suite(.serialized)
struct HTTPSUpstreamTests {
    /// The proxy in front of `backend` as the `api` upstream at `target` (`PORT` replaced by
    /// the backend's), with `tls`.
    static func start(
        _ backend: TestBackend, target: String = "https://localhost:PORT", tls: UpstreamTLS, logger: Logger? = nil,
        adjust: @escaping (inout Configuration) -> Void = { _ in }
    ) async throws -> ProxyHarness {
        try await ProxyHarness.start(logger: logger) { configuration in
            var upstream = configuration.upstreams["api"]!
            upstream.kind = .targets([try! UpstreamTargetParsing.parse(target.replacingOccurrences(of: "PORT", with: "\(backend.port)"))])
            upstream.tls = tls
            configuration.upstreams["api"] = upstream
            adjust(&configuration)
        }
    }

    static func trusting(_ ca: String) -> UpstreamTLS {
        var tls = UpstreamTLS()
        tls.caPath = ca
        return tls
    }

    /// Waits for a log line containing every one of `parts` (the driver logs on its event loop).
    static func awaitLog(_ lines: CapturingLogHandler.Lines, containing parts: String...) async throws -> String? {
        for _ in 0..<50 {
            if let line = lines.all.first(where: { line in parts.allSatisfy { line.contains($0) } }) { return line }
            try await Task.sleep(for: .milliseconds(50))
        }
        return nil
    }

    @Test func verifiedAgainstTheConfiguredCAWithSNIAndOneHandshakePerPooledConnection() async throws {
        let pki = try await TestPKI.make()
        defer { pki.remove() }
        let backend = try await TestBackend.start(tls: .init(certificate: pki.serverCertificate, privateKey: pki.serverKey))
        defer { Task { await backend.stop() } }
        let harness = try await Self.start(backend, tls: Self.trusting(pki.ca))
        defer { Task { await harness.stop() } }

        for number in 1...3 {
            let response = try await Curl.get("\(harness.base)/public/item/\(number)")
            #expect(response.status == 200, "\(response)")
            #expect(response.body == "{\"ok\":true}")
        }
        #expect(backend.requests.map(\.uri) == ["/public/item/1", "/public/item/2", "/public/item/3"])
        #expect(backend.requests.last?.value("host") == "127.0.0.1:\(harness.port)", "host_header: client by default")
        #expect(backend.connectionCount == 1, "one pooled keep-alive connection served all three")
        #expect(backend.serverNames == ["localhost"], "one handshake, with SNI for the target's name")
    }

    @Test func anIPTargetIsVerifiedAgainstTheCertificatesIPSANWithoutSNI() async throws {
        let pki = try await TestPKI.make()
        defer { pki.remove() }
        let backend = try await TestBackend.start(tls: .init(certificate: pki.serverCertificate, privateKey: pki.serverKey))
        defer { Task { await backend.stop() } }
        let harness = try await Self.start(backend, target: "https://127.0.0.1:PORT", tls: Self.trusting(pki.ca))
        defer { Task { await harness.stop() } }
        #expect(try await Curl.get("\(harness.base)/public/x").status == 200)
        #expect(backend.serverNames == [nil], "SNI carries no IP address")
    }

    @Test func aCertificateForAnotherNameIs502WithTheReasonLoggedUnlessServerNameSaysSo() async throws {
        let pki = try await TestPKI.make()
        defer { pki.remove() }
        let backend = try await TestBackend.start(tls: .init(certificate: pki.wrongNameCertificate, privateKey: pki.wrongNameKey))
        defer { Task { await backend.stop() } }
        let (logger, lines) = CapturingLogHandler.logger()
        let harness = try await Self.start(backend, tls: Self.trusting(pki.ca), logger: logger)
        defer { Task { await harness.stop() } }

        let refused = try await Curl.get("\(harness.base)/public/x")
        #expect(refused.status == 502)
        #expect(refused.body == "{\"error\":\"bad_gateway\"}")
        #expect(refused.header("x-request-id") != nil)
        #expect(backend.requests.isEmpty, "nothing was sent to an upstream that failed verification")
        let logged = try await Self.awaitLog(lines, containing: "upstream unavailable", "TLS handshake with https://localhost:\(backend.port) failed")
        #expect(logged?.contains("localhost") == true, "the reason names the name it expected: \(lines.all)")

        // The same certificate, verified for the name it does carry.
        var named = Self.trusting(pki.ca)
        named.serverName = "wrong.example"
        let renamed = try await Self.start(backend, tls: named)
        defer { Task { await renamed.stop() } }
        #expect(try await Curl.get("\(renamed.base)/public/x").status == 200)
        #expect(backend.serverNames.last == "wrong.example")
    }

    /// `server_name` is the name verified, also for an IP target whose certificate carries that
    /// IP: swift-nio-ssl alone accepted any IP SAN matching the address connected to.
    @Test func serverNameIsVerifiedEvenWhenTheCertificateCarriesTheTargetsIP() async throws {
        let pki = try await TestPKI.make()
        defer { pki.remove() }
        let backend = try await TestBackend.start(tls: .init(certificate: pki.serverCertificate, privateKey: pki.serverKey))
        defer { Task { await backend.stop() } }
        var named = Self.trusting(pki.ca)
        named.serverName = "wrong.example"
        for target in ["https://127.0.0.1:PORT", "https://localhost:PORT"] {
            let (logger, lines) = CapturingLogHandler.logger()
            let harness = try await Self.start(backend, target: target, tls: named, logger: logger)
            let refused = try await Curl.get("\(harness.base)/public/x")
            #expect(refused.status == 502, "\(target): the certificate is for localhost and 127.0.0.1, not wrong.example")
            #expect(refused.body == "{\"error\":\"bad_gateway\"}")
            let logged = try await Self.awaitLog(lines, containing: "upstream unavailable", "not valid for wrong.example")
            #expect(logged != nil, "the reason is logged: \(lines.all)")
            await harness.stop()
        }
        #expect(backend.requests.isEmpty, "nothing was sent")
        #expect(backend.serverNames.allSatisfy { $0 == "wrong.example" }, "SNI is server_name")
    }

    @Test func aCertificateFromAnUntrustedCAIs502WithTheConfiguredCAAndWithTheSystemRoots() async throws {
        let pki = try await TestPKI.make()
        defer { pki.remove() }
        let backend = try await TestBackend.start(tls: .init(certificate: pki.otherServerCertificate, privateKey: pki.otherServerKey))
        defer { Task { await backend.stop() } }
        let (logger, lines) = CapturingLogHandler.logger()
        let harness = try await Self.start(backend, tls: Self.trusting(pki.ca), logger: logger)
        defer { Task { await harness.stop() } }
        #expect(try await Curl.get("\(harness.base)/public/x").status == 502)
        #expect(
            try await Self.awaitLog(lines, containing: "TLS handshake with", "(CN=localhost) is not issued by a trusted CA") != nil,
            "\(lines.all)")

        let systemRoots = try await Self.start(backend, tls: UpstreamTLS())
        defer { Task { await systemRoots.stop() } }
        #expect(try await Curl.get("\(systemRoots.base)/public/x").status == 502)
        #expect(backend.requests.isEmpty)
    }

    /// The log says why verification failed (found by an audit: BoringSSL's
    /// CERTIFICATE_VERIFY_FAILED alone, the same for an expired and a self-signed certificate).
    @Test(arguments: [
        ("expired", "(CN=localhost) expired at"), ("self", "(CN=localhost) is self-signed and not trusted"),
        ("clientonly", "(CN=localhost) is not for servers (its extended key usage lacks serverAuth)"),
    ])
    func aVerificationFailureIsLoggedWithItsReason(certificate: String, reason: String) async throws {
        let pki = try await TestPKI.make()
        defer { pki.remove() }
        let backend = try await TestBackend.start(tls: .init(certificate: pki.path("\(certificate).crt"), privateKey: pki.path("\(certificate).key")))
        defer { Task { await backend.stop() } }
        let (logger, lines) = CapturingLogHandler.logger()
        let harness = try await Self.start(backend, tls: Self.trusting(pki.ca), logger: logger)
        defer { Task { await harness.stop() } }
        #expect(try await Curl.get("\(harness.base)/public/x").status == 502)
        #expect(try await Self.awaitLog(lines, containing: "TLS handshake with", reason) != nil, "\(lines.all)")
        #expect(backend.requests.isEmpty)
    }

    @Test func insecureSkipVerifyAcceptsAnyCertificateAndIsWarnedAtStart() async throws {
        let pki = try await TestPKI.make()
        defer { pki.remove() }
        let backend = try await TestBackend.start(tls: .init(certificate: pki.wrongNameCertificate, privateKey: pki.wrongNameKey))
        defer { Task { await backend.stop() } }
        let (logger, lines) = CapturingLogHandler.logger()
        var insecure = UpstreamTLS()
        insecure.insecureSkipVerify = true
        let harness = try await Self.start(backend, tls: insecure, logger: logger)
        defer { Task { await harness.stop() } }
        #expect(lines.all.contains { $0.hasPrefix("warning") && $0.contains("upstreams.api.tls.insecure_skip_verify") }, "\(lines.all)")
        #expect(try await Curl.get("\(harness.base)/public/x").status == 200)
        #expect(backend.serverNames == ["localhost"], "SNI is still sent")
    }

    @Test func mutualTLSPresentsTheClientCertificate() async throws {
        let pki = try await TestPKI.make()
        defer { pki.remove() }
        let backend = try await TestBackend.start(
            tls: .init(certificate: pki.serverCertificate, privateKey: pki.serverKey, requireClientCertificateFrom: pki.ca))
        defer { Task { await backend.stop() } }

        let (logger, lines) = CapturingLogHandler.logger()
        let anonymous = try await Self.start(backend, tls: Self.trusting(pki.ca), logger: logger)
        defer { Task { await anonymous.stop() } }
        let refused = try await Curl.get("\(anonymous.base)/public/x")
        #expect(refused.status == 502, "the upstream refuses a client without a certificate")
        #expect(backend.requests.isEmpty)
        #expect(try await Self.awaitLog(lines, containing: "upstream") != nil)
        #expect(lines.all.contains { $0.contains("warning") && ($0.contains("TLS handshake") || $0.contains("upstream connection failed")) }, "\(lines.all)")
        // In words, not only the alert's name (found by an audit).
        #expect(lines.all.contains { $0.contains("the upstream requires a client certificate") }, "\(lines.all)")

        var mutual = Self.trusting(pki.ca)
        mutual.certificatePath = pki.clientCertificate
        mutual.privateKeyPath = pki.clientKey
        let harness = try await Self.start(backend, tls: mutual)
        defer { Task { await harness.stop() } }
        for _ in 0..<2 { #expect(try await Curl.get("\(harness.base)/public/x").status == 200) }
        #expect(backend.requests.count == 2)
        for line in lines.all { #expect(!line.contains("PRIVATE KEY"), "no key material in the log") }
    }

    @Test func sessionsIdentityAndWebSocketsPassThroughAnHTTPSUpstream() async throws {
        let pki = try await TestPKI.make()
        defer { pki.remove() }
        let backend = try await TestBackend.start(tls: .init(certificate: pki.serverCertificate, privateKey: pki.serverKey))
        defer { Task { await backend.stop() } }
        let harness = try await Self.start(backend, tls: Self.trusting(pki.ca))
        defer { Task { await harness.stop() } }

        let cookie = try await harness.login("alice")
        #expect(try await Curl.get("\(harness.base)/api/me", ["-H", "Cookie: \(cookie)"]).status == 200)
        #expect(backend.requests.last?.values("x-user-id") == ["alice"])

        let client = try await WebSocketTests.connect(harness, cookie: cookie)
        #expect(client.status == 101, "\(client.responseHead)")
        try await offPool { try client.sendText("over tls") }
        #expect(try await offPool { try client.readFrame() }?.text == "echo:over tls")
    }

    @Test func anUpstreamThatNeverFinishesTheHandshakeOrSpeaksPlainHTTPIs502() async throws {
        // A socket that listens but never reads: the kernel completes the TCP connect, nothing
        // answers the ClientHello.
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { Glibc.close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        _ = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        listen(fd, 16)
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) } }
        let silentPort = Int(UInt16(bigEndian: address.sin_port))

        let (logger, lines) = CapturingLogHandler.logger()
        let harness = try await ProxyHarness.start(logger: logger) { configuration in
            var upstream = configuration.upstreams["api"]!  // connect_timeout 1s
            upstream.kind = .targets([UpstreamTarget(host: "127.0.0.1", port: silentPort, scheme: .https)])
            configuration.upstreams["api"] = upstream
        }
        defer { Task { await harness.stop() } }
        let started = Date()
        #expect(try await Curl.get("\(harness.base)/public/x").status == 502)
        let seconds = Date().timeIntervalSince(started)
        #expect(seconds >= 0.9 && seconds < 10, "the handshake is bounded by connect_timeout, not curl's 20 s: \(seconds)s")
        #expect(try await Self.awaitLog(lines, containing: "did not complete within connect_timeout") != nil, "\(lines.all)")

        // A plain HTTP server behind an https target.
        let plain = try await ProxyHarness.start { configuration in
            var upstream = configuration.upstreams["api"]!
            upstream.kind = .targets([UpstreamTarget(host: "127.0.0.1", port: harness.backend.port, scheme: .https)])
            configuration.upstreams["api"] = upstream
        }
        defer { Task { await plain.stop() } }
        #expect(try await Curl.get("\(plain.base)/public/x").status == 502)
        #expect(harness.backend.requests.isEmpty)
    }

    /// Certificates out of their validity period load, but are warned about with their key
    /// path (found by an audit: `check` said nothing of an expired listener certificate).
    @Test func expiredCertificatesAreWarnedAboutWithTheirKeyPath() async throws {
        let pki = try await TestPKI.make()
        defer { pki.remove() }
        let configuration = ProxyHarness.configuration(backendPort: 1) {
            $0.listeners.append(
                Listener(
                    address: SocketAddressSpec(host: "127.0.0.1", port: 0),
                    tls: TLSSettings(certificatePath: pki.expiredCertificate, privateKeyPath: pki.expiredKey)))
            var upstream = Upstream(kind: .targets([UpstreamTarget(host: "localhost", port: 8443, scheme: .https)]))
            upstream.tls.caPath = pki.ca
            upstream.tls.certificatePath = pki.expiredCertificate
            upstream.tls.privateKeyPath = pki.expiredKey
            $0.upstreams["api"] = upstream
        }
        #expect(ProxyServer.problems(in: configuration).isEmpty, "valid: they load")
        let warnings = ProxyServer.warnings(in: configuration)
        #expect(warnings.count == 2, "\(warnings)")
        #expect(warnings.first?.hasPrefix("listen[1].tls.certificate: the certificate (CN=localhost) in \"\(pki.expiredCertificate)\" expired at ") == true)
        #expect(warnings.first?.hasSuffix("; clients will refuse it") == true)
        #expect(warnings.last?.hasPrefix("upstreams.api.tls.certificate: the certificate (CN=localhost)") == true, "\(warnings)")
        // A year on, the CA has expired too.
        let later = ProxyServer.warnings(in: configuration, now: Date().addingTimeInterval(365 * 86_400))
        #expect(later.contains { $0.hasPrefix("upstreams.api.tls.ca: the certificate (CN=Cloakroom Test CA)") }, "\(later)")
        // Before the certificates were made, none is valid yet.
        let earlier = ProxyServer.warnings(in: configuration, now: Date().addingTimeInterval(-3 * 86_400))
        #expect(earlier.contains { $0.contains("is not valid before") && $0.hasPrefix("upstreams.api.tls.ca") }, "\(earlier)")
        #expect(ProxyServer.warnings(in: ProxyHarness.configuration(backendPort: 1) { _ in }).isEmpty)
    }

    @Test func checkReportsUnreadableAndMismatchedFilesWithTheirKeyPath() async throws {
        let pki = try await TestPKI.make()
        defer { pki.remove() }
        func problems(_ adjust: (inout UpstreamTLS) -> Void) -> [String] {
            ProxyServer.problems(
                in: ProxyHarness.configuration(backendPort: 1) {
                    var upstream = Upstream(kind: .targets([UpstreamTarget(host: "localhost", port: 8443, scheme: .https)]))
                    adjust(&upstream.tls)
                    $0.upstreams["api"] = upstream
                })
        }
        #expect(problems { $0.caPath = pki.ca }.isEmpty)
        #expect(problems { $0.certificatePath = pki.clientCertificate; $0.privateKeyPath = pki.clientKey }.isEmpty)

        let garbage = pki.path("garbage.pem")
        try "not a certificate\n".write(toFile: garbage, atomically: true, encoding: .utf8)
        #expect(problems { $0.caPath = garbage } == ["upstreams.api.tls.ca: file \"\(garbage)\" holds no readable PEM certificate"])
        #expect(
            problems { $0.certificatePath = garbage; $0.privateKeyPath = pki.clientKey }
                == ["upstreams.api.tls.certificate: file \"\(garbage)\" holds no readable PEM certificate"])
        #expect(
            problems { $0.certificatePath = pki.clientCertificate; $0.privateKeyPath = garbage }
                == ["upstreams.api.tls.private_key: file \"\(garbage)\" holds no readable PEM private key (damaged, or not a private key)"])
        let encrypted = pki.path("encrypted.pem")
        try "-----BEGIN ENCRYPTED PRIVATE KEY-----\nMIIBvTBXBgkqhkiG9w0BBQ0wSjApBgkqhkiG9w0BBQwwHAQI\n-----END ENCRYPTED PRIVATE KEY-----\n"
            .write(toFile: encrypted, atomically: true, encoding: .utf8)
        #expect(
            problems { $0.certificatePath = pki.clientCertificate; $0.privateKeyPath = encrypted }
                == ["upstreams.api.tls.private_key: file \"\(encrypted)\" holds no readable PEM private key (it is encrypted, and encrypted keys are not supported)"])
        let mismatched = problems { $0.certificatePath = pki.clientCertificate; $0.privateKeyPath = pki.strayKey }
        #expect(
            mismatched == [
                "upstreams.api.tls.private_key: the key in \"\(pki.strayKey)\" does not match the certificate in \"\(pki.clientCertificate)\""
            ])
        #expect(
            problems { $0.caPath = garbage; $0.certificatePath = pki.clientCertificate; $0.privateKeyPath = pki.strayKey }.count == 2,
            "each file's problem, in one pass")
        // A CA certificate with its own key: the pair matches, but its key usage (keyCertSign,
        // cRLSign) does not allow the handshake's signature, and that is what is said.
        #expect(
            problems { $0.certificatePath = pki.ca; $0.privateKeyPath = pki.path("ca.key") } == [
                "upstreams.api.tls.certificate: the certificate in \"\(pki.ca)\" may not sign (its key usage lacks digitalSignature), "
                    + "which TLS needs; a CA certificate cannot serve as one"
            ])
        // The same with RSA, which BoringSSL takes with its key (found by an audit: `check`
        // passed it, and every handshake then failed).
        #expect(
            problems { $0.certificatePath = pki.path("rsa-ca.crt"); $0.privateKeyPath = pki.path("rsa-ca.key") } == [
                "upstreams.api.tls.certificate: the certificate in \"\(pki.path("rsa-ca.crt"))\" may not sign (its key usage lacks digitalSignature), "
                    + "which TLS needs; a CA certificate cannot serve as one"
            ])
        /// What the server finds wrong with a TLS listener serving `name`.crt and `name`.key.
        func listenerProblems(_ name: String) -> [String] {
            ProxyServer.problems(
                in: Configuration(
                    listeners: [
                        Listener(
                            address: SocketAddressSpec(host: "127.0.0.1", port: 0),
                            tls: TLSSettings(certificatePath: pki.path("\(name).crt"), privateKeyPath: pki.path("\(name).key")))
                    ],
                    session: SessionSettings(), routes: [Route(path: "/", upstream: "api")],
                    upstreams: ["api": Upstream(kind: .targets([UpstreamTarget(host: "127.0.0.1", port: 9)]))]))
        }
        let listener = listenerProblems("rsa-ca")
        #expect(listener.contains { $0.hasPrefix("listen[0].tls.certificate: ") && $0.contains("may not sign") }, "\(listener)")
        // A certificate for another purpose: every peer refuses it as unsuitable (found by an
        // audit: a clientAuth-only certificate passed `check` on a listener).
        let clientOnly = listenerProblems("clientonly")
        #expect(
            clientOnly == [
                "listen[0].tls.certificate: the certificate in \"\(pki.path("clientonly.crt"))\" is not for servers (its extended key usage lacks serverAuth): clients refuse it"
            ], "\(clientOnly)")
        #expect(
            problems { $0.certificatePath = pki.path("server.crt"); $0.privateKeyPath = pki.path("server.key") } == [
                "upstreams.api.tls.certificate: the certificate in \"\(pki.path("server.crt"))\" is not for clients (its extended key usage lacks clientAuth): upstreams refuse it"
            ])
        let keyText = try String(contentsOfFile: pki.strayKey, encoding: .utf8)
        #expect(!mismatched.joined().contains(keyText.split(separator: "\n")[1]), "never key material")
    }
}

/// `UpstreamTarget.parse` is internal to the configuration module; tests spell targets as text.
enum UpstreamTargetParsing {
    static func parse(_ text: String) throws -> UpstreamTarget {
        let https = text.hasPrefix("https://")
        let rest = text.dropFirst(https ? 8 : 7)
        guard let colon = rest.lastIndex(of: ":"), let port = Int(rest[rest.index(after: colon)...]) else {
            throw TestCertificates.CertificateError.opensslFailed("bad target \(text)")
        }
        return UpstreamTarget(host: String(rest[..<colon]), port: port, scheme: https ? .https : .http)
    }
}
