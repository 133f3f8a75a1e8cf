import CloakroomSessions

/// The client address as the SPEC's "Client address" derives it: what a session records as its
/// `client`, and what the audit log reports.
///
/// One function, so the rule has one home: today the address is the TCP peer's IP, without a
/// port (``ClientInfo/address``). The rule for `client.trusted_proxies` (the right-most
/// `X-Forwarded-For` entry that is not a trusted proxy, when the peer is one) belongs here.
public enum ClientAddress {
    /// The client address of a request that arrived from `peer`.
    public static func derive(peer: ClientInfo) -> String {
        peer.address
    }
}

extension Exchange {
    /// Where a session this request creates comes from: its client address and `User-Agent`.
    public var sessionOrigin: SessionOrigin {
        SessionOrigin(client: ClientAddress.derive(peer: client), userAgent: userAgent)
    }
}
