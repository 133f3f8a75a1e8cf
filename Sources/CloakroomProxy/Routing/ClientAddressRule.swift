import CloakroomConfig
import HTTPTypes

/// SPEC "Client address": who the client is when load balancers stand in front.
///
/// The client address is the TCP peer, unless the peer is in `client.trusted_proxies`: then it
/// is the right-most `X-Forwarded-For` entry that is not itself a trusted proxy (every
/// `X-Forwarded-For` field, in order, read as one list), and that peer's `X-Forwarded-Proto`
/// decides whether the client spoke HTTPS. From any other peer both fields are ignored (and
/// stripped before forwarding, as always).
///
/// Edge cases, as nginx's `real_ip_recursive on` settles them: every entry a trusted proxy →
/// the left-most entry; no `X-Forwarded-For` → the peer; an entry that is not an IP address
/// (`unknown`, an obfuscated identifier) ends the walk and the address is the last trusted hop
/// before it, never the unparseable text.
///
/// Compiled once per configuration; a request from an untrusted peer costs one range check
/// (none at all without `trusted_proxies`).
public struct ClientAddressRule: Sendable {
    public let trustedProxies: [CIDRBlock]

    public init(trustedProxies: [CIDRBlock]) {
        self.trustedProxies = trustedProxies
    }

    /// The client as this request shows it: `peer` itself, or the address and scheme its
    /// trusted proxy reports.
    public func client(for peer: ClientInfo, request: HTTPRequest) -> ClientInfo {
        guard !trustedProxies.isEmpty, let peerIP = peer.ip, trustedProxies.containsAddress(peerIP) else { return peer }
        var client = peer
        if let proto = PolicyRequestFields.value(.xForwardedProto, in: request) {
            // A list when several proxies appended: the nearest one (ours) wrote the last entry.
            let last = proto.split(separator: ",").last.map { ASCIIText.trimmedLowercased($0.utf8) } ?? ""
            if last == "https" {
                client.isSecure = true
            } else if last == "http" {
                client.isSecure = false
            }
        }
        if let derived = forwardedClient(request.headerFields, nearest: peerIP) {
            client.ip = derived
            client.address = derived.description
        }
        return client
    }

    /// Walks the `X-Forwarded-For` entries from the right: the first one that is not a trusted
    /// proxy is the client. `nil`: no entries (the peer stays the client).
    func forwardedClient(_ fields: HTTPFields, nearest: IPAddress) -> IPAddress? {
        let values = PolicyRequestFields.values(.xForwardedFor, in: fields)
        guard !values.isEmpty else { return nil }
        var hop = nearest
        var sawEntry = false
        for value in values.reversed() {
            for entry in value.split(separator: ",").reversed() {
                let clean = Substring(ASCIIText.trimmed(entry.utf8))
                guard !clean.isEmpty else { continue }
                sawEntry = true
                guard let address = IPAddress(forwardedEntry: clean) else { return hop }
                guard trustedProxies.containsAddress(address) else { return address }
                hop = address
            }
        }
        // Every entry a trusted proxy: the left-most one.
        return sawEntry ? hop : nil
    }
}
