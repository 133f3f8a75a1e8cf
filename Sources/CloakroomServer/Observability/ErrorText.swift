import Glibc
import NIOCore
import NIOPosix

/// An error as a log line's `error` says it: what went wrong, in the operating system's words
/// where it has them (`Connection refused (errno 111)`), not the wording of the call that met
/// it. NIO's own text for a refused connect reads `connection reset (error set): Connection
/// refused) (errno: 111)`, and BoringSSL's names the source file of the build that raised it.
enum ErrorText {
    static func describe(_ error: any Error) -> String {
        switch error {
        case let io as IOError:
            return "\(String(cString: strerror(io.errnoCode))) (errno \(io.errnoCode))"
        case let connect as NIOConnectionError:
            let each = connect.connectionErrors.map { "\(describe($0.error)) connecting to \($0.target)" }
            if !each.isEmpty { return each.joined(separator: "; ") }
            if connect.dnsAError != nil || connect.dnsAAAAError != nil { return "the host name did not resolve" }
            return "\(connect)"
        default:
            return explainingTLSAlerts(withoutSourcePaths("\(error)"))
        }
    }

    /// An alert the upstream sent about the client certificate, said in words first: with
    /// TLS 1.3 the server judges the certificate after the handshake, so the alert arrives
    /// with the first request (found by an audit: the log showed only the raw alert).
    static func explainingTLSAlerts(_ text: String) -> String {
        // Explained once: a handshake failure's text already carries it when it is described
        // again (found by an audit: the phrase came twice).
        guard !explanations.contains(where: { text.contains($0) }) else { return text }
        if text.contains("TLSV1_ALERT_CERTIFICATE_REQUIRED") {
            return explanations[0] + ": " + text
        }
        if text.contains("SSLV3_ALERT_BAD_CERTIFICATE") || text.contains("TLSV1_ALERT_UNKNOWN_CA")
            || text.contains("SSLV3_ALERT_CERTIFICATE_UNKNOWN") || text.contains("SSLV3_ALERT_CERTIFICATE_EXPIRED")
        {
            return explanations[1] + ": " + text
        }
        // TLS 1.2 has no alert of its own for a missing client certificate: servers send this.
        if text.contains("SSLV3_ALERT_HANDSHAKE_FAILURE") {
            return explanations[2] + ": " + text
        }
        if text.contains("TLSV1_ALERT_PROTOCOL_VERSION") || text.contains("UNSUPPORTED_PROTOCOL") {
            return explanations[3] + ": " + text
        }
        return text
    }

    /// What the alerts mean, in the order ``explainingTLSAlerts(_:)`` uses them.
    private static let explanations = [
        "the upstream requires a client certificate (upstreams.*.tls.certificate and private_key)",
        "the upstream refused the client certificate (upstreams.*.tls.certificate)",
        "the upstream refused the handshake: over TLS 1.2 that is how an upstream that requires a client certificate "
            + "(upstreams.*.tls.certificate) refuses a connection without one, or it shares no cipher suite with the proxy",
        "the upstream speaks no TLS version the proxy accepts (TLS 1.2 or later)",
    ]

    /// `… CERTIFICATE_VERIFY_FAILED at /path/to/handshake.cc:320` without ` at /path…:320`.
    static func withoutSourcePaths(_ text: String) -> String {
        var result = ""
        var rest = Substring(text)
        while let range = rest.range(of: " at /") {
            result += rest[..<range.lowerBound]
            rest = rest[range.upperBound...]
            // The path runs to the next space or closing bracket.
            let end = rest.firstIndex { $0 == " " || $0 == ")" || $0 == "]" || $0 == "," } ?? rest.endIndex
            rest = rest[end...]
        }
        return result + rest
    }
}
