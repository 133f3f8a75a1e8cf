import CloakroomProxy
import HTTPTypes
import NIOCore
import NIOHPACK

/// Response heads as HTTP/2 header blocks (for NIO's HPACK encoder): from a swift-http-types
/// response (the proxy's own answers, and upstream heads the policy filtered), or straight
/// from an upstream's HTTP/1.1 head bytes when only the response field rule applies
/// (``UpstreamResponseHead/needsPolicy`` false), as the HTTP/1.1 server copies its lines.
///
/// Connection-specific fields never go out (RFC 9113 §8.2.2; NIO would fail the stream): the
/// policy and the field rule drop hop-by-hop fields, and this drops any that remain.
enum HTTP2ResponseHead {
    static func headers(_ response: HTTPResponse) -> HPACKHeaders {
        var headers = HPACKHeaders()
        headers.reserveCapacity(response.headerFields.count + 1)
        headers.add(name: ":status", value: status(response.status.code))
        for field in response.headerFields where !HopByHop.isHopByHop(name: field.name.canonicalName.utf8) {
            headers.add(name: field.name.canonicalName, value: field.value, indexing: indexing(field.name.canonicalName))
        }
        return headers
    }

    /// The head's status and the field lines the rule forwards, names in lower case, values
    /// without surrounding blanks, then the exchange's `x-request-id`.
    static func headers(_ head: UpstreamResponseHead, requestID: String) -> HPACKHeaders {
        var headers = HPACKHeaders()
        headers.reserveCapacity(12)
        headers.add(name: ":status", value: status(head.code))
        head.bytes.withUnsafeReadableBytes { bytes in
            // Past the status line; every line ends in CRLF (the response parser checked).
            var start = 0
            while start < bytes.count && bytes[start] != HTTP1Head.lf { start += 1 }
            start += 1
            while start < bytes.count && bytes[start] != HTTP1Head.cr {  // the head's bytes end with its last field line
                var colon = start
                while bytes[colon] != HTTP1Head.colon { colon += 1 }
                var end = colon
                while bytes[end] != HTTP1Head.lf { end += 1 }
                let next = end + 1
                let name = UnsafeRawBufferPointer(rebasing: bytes[start..<colon])
                if ResponseFieldRule.of(name: name) == .forward {
                    var valueStart = colon + 1
                    end -= 1  // the CR
                    while valueStart < end && isBlank(bytes[valueStart]) { valueStart += 1 }
                    while end > valueStart && isBlank(bytes[end - 1]) { end -= 1 }
                    let lowercasedName = lowercased(name)
                    headers.add(
                        name: lowercasedName, value: String(decoding: UnsafeRawBufferPointer(rebasing: bytes[valueStart..<end]), as: UTF8.self),
                        indexing: indexing(lowercasedName))
                }
                start = next
            }
        }
        headers.add(name: "x-request-id", value: requestID, indexing: .nonIndexable)
        return headers
    }

    /// How HPACK may keep a field in the connection's dynamic table. `set-cookie` never (RFC
    /// 7541 §7.1.3: a secret must not be guessable by compressing it beside attacker-chosen
    /// fields, nor kept by an intermediary); `x-request-id` not (unique per response: indexing
    /// it only evicts fields that do repeat, and costs an insertion per response).
    static func indexing(_ name: String) -> HPACKIndexing {
        switch name {
        case "set-cookie": .neverIndexed
        case "x-request-id": .nonIndexable
        default: .indexable
        }
    }

    @inline(__always)
    private static func isBlank(_ byte: UInt8) -> Bool { byte == 0x20 || byte == 0x09 }

    static func lowercased(_ name: UnsafeRawBufferPointer) -> String {
        String(unsafeUninitializedCapacity: name.count) { out in
            for index in 0..<name.count {
                let byte = name[index]
                out[index] = byte >= 0x41 && byte <= 0x5A ? byte | 0x20 : byte
            }
            return name.count
        }
    }

    /// `:status` without formatting a number for the common codes.
    static func status(_ code: Int) -> String {
        switch code {
        case 200: return "200"
        case 204: return "204"
        case 206: return "206"
        case 301: return "301"
        case 302: return "302"
        case 303: return "303"
        case 304: return "304"
        case 400: return "400"
        case 401: return "401"
        case 403: return "403"
        case 404: return "404"
        default: return String(code)
        }
    }
}
