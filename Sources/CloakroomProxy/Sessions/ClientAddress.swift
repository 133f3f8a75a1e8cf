import CloakroomSessions

/// The client address as the SPEC's "Client address" derives it: what a session records as its
/// `client`, and what the audit log reports.
///
/// The address is ``ClientInfo/address`` without a port: on the public listeners the exchange's
/// client has already been through ``ClientAddressRule`` (`client.trusted_proxies`); the admin
/// listener passes its TCP peer.
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
