import AsyncHTTPClient
import Dispatch
import NIOCore
import NIOHTTP1
import NIOSSL

/// The HTTP calls to the identity provider (discovery, JWKS, token, userinfo), through
/// async-http-client: its own connection pool, TLS verified against `ca` (else the system
/// roots), no redirects followed, every call bounded in time and size.
///
/// - Important: ``shutdown()`` before the process exits (the client owns connections).
public final class ProviderHTTP: Sendable {
    /// A call that got no answer: the provider is unreachable (→ 502).
    public struct Unreachable: Error, CustomStringConvertible {
        public var description: String
    }

    public struct Response: Sendable {
        public var status: Int
        public var body: [UInt8]
    }

    static let maximumBodyBytes = 1 << 20
    let client: HTTPClient
    let timeout: TimeAmount

    /// - Parameter caPath: a PEM bundle trusted instead of the system roots.
    public init(caPath: String?, timeout: TimeAmount = .seconds(5)) throws {
        var tls = TLSConfiguration.makeClientConfiguration()
        tls.minimumTLSVersion = .tlsv12
        if let caPath {
            tls.trustRoots = .certificates(try NIOSSLCertificate.fromPEMFile(caPath))
        }
        var configuration = HTTPClient.Configuration(tlsConfiguration: tls, redirectConfiguration: .disallow)
        configuration.timeout = .init(connect: timeout, read: timeout)
        // A refused connection fails the call at once rather than being retried with backoff
        // until the connect timeout: discovery retries on its own schedule, and a login or a
        // new bearer token should get its 502 now, not in 5 seconds (ProviderDirectory).
        configuration.connectionPool.retryConnectionEstablishment = false
        self.client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
        self.timeout = timeout
    }

    public func get(_ url: String, bearer: String? = nil) async throws -> Response {
        var request = HTTPClientRequest(url: url)
        request.headers.add(name: "Accept", value: "application/json")
        if let bearer { request.headers.add(name: "Authorization", value: "Bearer \(bearer)") }
        return try await execute(request)
    }

    /// POST `application/x-www-form-urlencoded`.
    public func postForm(_ url: String, form: [(String, String)], basic: (user: String, password: String)? = nil) async throws -> Response {
        var request = HTTPClientRequest(url: url)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/x-www-form-urlencoded")
        request.headers.add(name: "Accept", value: "application/json")
        if let basic {
            // RFC 6749 §2.3.1: both parts form-encoded before the Basic encoding.
            let credentials = FormEncoding.encode(basic.user) + ":" + FormEncoding.encode(basic.password)
            request.headers.add(name: "Authorization", value: "Basic " + Base64.encode(Array(credentials.utf8)))
        }
        request.body = .bytes(ByteBuffer(string: FormEncoding.encode(form)))
        return try await execute(request)
    }

    private func execute(_ request: HTTPClientRequest) async throws -> Response {
        let response: HTTPClientResponse
        do {
            response = try await client.execute(request, timeout: timeout)
        } catch {
            throw Unreachable(description: "\(request.method.rawValue) \(Self.withoutQuery(request.url)): \(error)")
        }
        do {
            let body = try await response.body.collect(upTo: Self.maximumBodyBytes)
            return Response(status: Int(response.status.code), body: Array(body.readableBytesView))
        } catch {
            throw Unreachable(description: "reading \(Self.withoutQuery(request.url)): \(error)")
        }
    }

    /// URLs in messages lose their query: it may hold a code or a token hint.
    static func withoutQuery(_ url: String) -> String {
        String(url.prefix { $0 != "?" })
    }

    public func shutdown() async {
        try? await client.shutdown()
    }

    /// A provider client dropped without ``shutdown()`` (a server that failed to start, a
    /// configuration replaced and let go) still releases its connections: the shutdown keeps
    /// the HTTP client alive until it is done. One already shut down answers "already shut
    /// down", ignored.
    deinit {
        client.shutdown(queue: .global()) { _ in }
    }
}

/// `application/x-www-form-urlencoded` (WHATWG URL §5), and query strings.
public enum FormEncoding {
    public static func encode(_ pairs: [(String, String)]) -> String {
        pairs.map { encode($0.0) + "=" + encode($0.1) }.joined(separator: "&")
    }

    public static func encode(_ text: String) -> String {
        var out = ""
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
                UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"),
                UInt8(ascii: "*"):
                out.unicodeScalars.append(Unicode.Scalar(byte))
            case UInt8(ascii: " "):
                out += "+"
            default:
                let hex = Array("0123456789ABCDEF".utf8)
                out += "%" + String(decoding: [hex[Int(byte >> 4)], hex[Int(byte & 0xF)]], as: UTF8.self)
            }
        }
        return out
    }

    /// Name–value pairs of a query or form body; `+` is a space; malformed escapes kept as is.
    public static func decode(_ text: Substring) -> [(String, String)] {
        text.split(separator: "&", omittingEmptySubsequences: true).map { pair in
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            return (unescape(parts[0]), parts.count > 1 ? unescape(parts[1]) : "")
        }
    }

    static func unescape(_ text: Substring) -> String {
        var bytes: [UInt8] = []
        var iterator = Array(text.utf8)[...]
        while let byte = iterator.popFirst() {
            if byte == UInt8(ascii: "+") {
                bytes.append(UInt8(ascii: " "))
            } else if byte == UInt8(ascii: "%"), iterator.count >= 2,
                let value = UInt8(String(decoding: iterator.prefix(2), as: UTF8.self), radix: 16)
            {
                bytes.append(value)
                iterator = iterator.dropFirst(2)
            } else {
                bytes.append(byte)
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}

enum Base64 {
    static func encode(_ bytes: [UInt8]) -> String {
        Data(bytes).base64EncodedString()
    }
}

import struct Foundation.Data
