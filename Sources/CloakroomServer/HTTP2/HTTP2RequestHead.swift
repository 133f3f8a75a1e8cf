import CloakroomProxy
import HTTPTypes
import NIOCore
import NIOHPACK
import NIOHTTP1

/// A request's HEADERS block, decoded by NIO's HPACK decoder, as the ``ClientRequestHead`` an
/// ``ExchangeDriver`` takes: the same shape the HTTP/1.1 parser gives, so both protocols meet
/// the phases, the raw-line forwarding and the cookie fast path the same way.
///
/// RFC 9113 is checked here, in one pass over the fields (NIO's header-block validation is off:
/// ``HTTP2FieldRules``):
/// - §8.2: every regular field as ``HTTP2FieldRules/problem(name:value:)`` says.
/// - §8.3: pseudo-header fields known, each at most once, all before the regular fields;
///   `:method`, `:scheme` and `:path` present (but for `CONNECT`, answered 400).
/// - §8.3.1: `:method` a token, `:scheme` a URI scheme, `:authority` a host and port without
///   userinfo, `:path` in origin form (`*` for `OPTIONS`); a `host` field that names another
///   authority than `:authority` is malformed.
///
/// A malformed request is a stream error of type PROTOCOL_ERROR (§8.1.1), nothing forwarded.
/// A request that is well formed HTTP/2 but unusable (no authority at all, `CONNECT`, two
/// `authorization` fields) is answered 400.
enum HTTP2RequestHead {
    enum Failure: Error, Equatable {
        /// Reset the stream with PROTOCOL_ERROR.
        case malformed(String)
        /// Answer 400.
        case badRequest(String)
        /// The header list is larger than `client.max_header_bytes`: answer 431.
        case tooLarge
    }

    /// The head of `headers`; the fields the policy does not read are written to `lines` as
    /// `name: value` CRLF lines (``ClientRequestHead/lines``). `endStream`: END_STREAM was on
    /// the HEADERS frame, so no body follows.
    static func make(
        _ headers: HPACKHeaders, secure: Bool, endStream: Bool, maxListSize: Int = .max, lines: inout ByteBuffer
    ) -> Result<ClientRequestHead, Failure> {
        var method: String?, scheme: String?, authority: String?, path: String?
        var host: String?, hostCount = 0
        var authorizationCount = 0
        var framing = FramingFields()
        var fields = HTTPFields()
        var cookieLines = 0, firstCookieValue = 0..<0
        lines.clear()
        var regularSeen = false
        // RFC 7541 §4.1's size, as SETTINGS_MAX_HEADER_LIST_SIZE counts it (RFC 9113 §6.5.2).
        var listSize = 0
        for (name, value, _) in headers {
            listSize += name.utf8.count + value.utf8.count + 32
            guard listSize <= maxListSize else { return .failure(.tooLarge) }
            if name.utf8.first == UInt8(ascii: ":") {
                guard !regularSeen else { return .failure(.malformed("pseudo-header field \(name) after a regular field")) }
                let repeated: Bool
                switch name {
                case ":method": (repeated, method) = (method != nil, value)
                case ":scheme": (repeated, scheme) = (scheme != nil, value)
                case ":authority": (repeated, authority) = (authority != nil, value)
                case ":path": (repeated, path) = (path != nil, value)
                default: return .failure(.malformed("pseudo-header field \(name)"))
                }
                if repeated { return .failure(.malformed("repeated \(name)")) }
                continue
            }
            regularSeen = true
            if let problem = HTTP2FieldRules.problem(name: name, value: value) { return .failure(.malformed(problem)) }
            switch name.utf8.count {
            case 4 where name == "host":
                hostCount += 1
                host = value
                continue
            case 6 where name == "cookie":
                if cookieLines == 0 {
                    let start = lines.writerIndex - lines.readerIndex + 8
                    firstCookieValue = start..<(start + value.utf8.count)
                }
                cookieLines += 1
            case 13 where name == "authorization":
                authorizationCount += 1
                fields.append(HTTPField(name: .authorization, value: value))
                continue
            case 6 where name == "expect":
                if framing.expect == nil { framing.expect = value }
            case 12 where name == "x-request-id":
                if framing.requestID == nil { framing.requestID = value }
            case 12 where name == "content-type":
                if framing.contentType == nil { framing.contentType = value }
            case 14 where name == "content-length":
                // Plain digits, once: as on HTTP/1.1 (RFC 9110 §8.6), a list or a second value
                // (two lengths the proxy and a backend could each pick one of) is malformed.
                guard framing.contentLength == nil else { return .failure(.malformed("repeated content-length")) }
                guard (1...19).contains(value.utf8.count), value.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) else {
                    return .failure(.malformed("content-length is not a number"))
                }
                framing.contentLength = value
            default:
                if let policyName = policyField(name) {
                    fields.append(HTTPField(name: policyName, value: value))
                    continue
                }
            }
            lines.writeString(name)
            lines.writeStaticString(": ")
            lines.writeString(value)
            lines.writeStaticString("\r\n")
        }
        guard let method, let parsedMethod = HTTPRequest.Method(method) else { return .failure(.malformed(":method is not a token")) }
        if let scheme, !isScheme(scheme) { return .failure(.malformed(":scheme is not a URI scheme")) }
        if let authority, !RequestAuthority.isValid(authority) { return .failure(.malformed(":authority is not host[:port]")) }
        // Host is a singleton (RFC 9110 §7.2), refused repeated as on HTTP/1.1 whether or not
        // :authority is there (found by an audit: beside :authority, two were let through).
        if hostCount > 1 { return .failure(.badRequest("repeated host")) }
        if let host {
            guard RequestAuthority.isValid(host) else { return .failure(.malformed("host is not host[:port]")) }
            if let authority, !equalsIgnoringCase(host, authority) {
                return .failure(.malformed("host names another authority than :authority"))
            }
        }
        if parsedMethod == .connect { return .failure(.badRequest("CONNECT is not supported")) }
        // As on HTTP/1.1: one set of credentials per request, or the proxy judges one and a
        // backend could read the other.
        if authorizationCount > 1 { return .failure(.badRequest("repeated authorization")) }
        guard scheme != nil else { return .failure(.malformed("no :scheme")) }
        guard let path else { return .failure(.malformed("no :path")) }
        guard HTTP2FieldRules.isPath(path), path.utf8.first == UInt8(ascii: "/") || (path == "*" && parsedMethod == .options) else {
            return .failure(.malformed(":path is not in origin form"))
        }
        guard let target = authority ?? host else { return .failure(.badRequest("no :authority and no host")) }
        let request = HTTPRequest(method: parsedMethod, scheme: secure ? "https" : "http", authority: target, path: path, headerFields: fields)
        return .success(
            ClientRequestHead(
                request: request, version: .http2, keepAlive: true, framing: framing, bodyMayFollow: !endStream, lines: lines,
                cookieLines: cookieLines, firstCookieValue: firstCookieValue))
    }

    /// The declared name of a field the phases read (``PolicyRequestFields``), nil for the rest.
    @inline(__always)
    static func policyField(_ name: String) -> HTTPField.Name? {
        for candidate in PolicyRequestFields.names where candidate.canonicalName == name { return candidate }
        return nil
    }

    /// RFC 3986 §3.1: `ALPHA *( ALPHA / DIGIT / "+" / "-" / "." )`.
    static func isScheme(_ scheme: String) -> Bool {
        var bytes = scheme.utf8.makeIterator()
        guard let first = bytes.next(), isAlpha(first) else { return false }
        while let byte = bytes.next() {
            guard isAlpha(byte) || (byte >= 0x30 && byte <= 0x39) || byte == 0x2B || byte == 0x2D || byte == 0x2E else { return false }
        }
        return true
    }

    /// Host names compare without regard to ASCII case (RFC 3986 §3.2.2).
    static func equalsIgnoringCase(_ a: String, _ b: String) -> Bool {
        guard a.utf8.count == b.utf8.count else { return false }
        return zip(a.utf8, b.utf8).allSatisfy { x, y in x == y || (isAlpha(x) && x | 0x20 == y | 0x20) }
    }

    @inline(__always)
    private static func isAlpha(_ byte: UInt8) -> Bool {
        (byte >= 0x41 && byte <= 0x5A) || (byte >= 0x61 && byte <= 0x7A)
    }
}
