/// What an exchange's decisions depend on, known once the request head is read.
struct ExchangeFacts: Sendable, Equatable {
    /// The client wants the connection kept after this exchange (HTTP/1.x keep-alive rules);
    /// always true on an HTTP/2 stream, whose end never ends its connection.
    var keepAlive: Bool
    var isHEAD: Bool
    /// GET, HEAD, OPTIONS, PUT, DELETE, TRACE: may be sent again (RFC 9110 §9.2.2).
    var idempotent: Bool
    /// How the body goes upstream; whether there is one.
    var framing: UpstreamFraming
    /// The client waits for `100 Continue` before sending its body.
    var expectContinue: Bool
    /// An HTTP/1.1 upgrade request: it gets a connection of its own, and it is its client
    /// connection's last request (the bytes after it belong to the tunnel).
    var upgrade: Bool
    /// `client.max_body_bytes`.
    var maxBodyBytes: Int

    init(
        keepAlive: Bool, isHEAD: Bool = false, idempotent: Bool = true, framing: UpstreamFraming = .none,
        expectContinue: Bool = false, upgrade: Bool = false, maxBodyBytes: Int = .max
    ) {
        self.keepAlive = keepAlive
        self.isHEAD = isHEAD
        self.idempotent = idempotent
        self.framing = framing
        self.expectContinue = expectContinue
        self.upgrade = upgrade
        self.maxBodyBytes = maxBodyBytes
    }
}

/// How an exchange ended: one access-log line and one metrics record carry it.
enum ExchangeOutcome: String, Sendable, Equatable, CaseIterable {
    /// A whole response was written: the upstream's, or one the proxy answers itself (a
    /// redirect, a 401, the login page).
    case complete
    /// The client went away before the response was written whole.
    case clientClosed = "client_closed"
    /// The upstream could not be reached, or failed before or while answering.
    case upstreamFailed = "upstream_failed"
    /// The session behind a long response ended while it was streaming.
    case sessionEnded = "session_ended"
    /// A deadline passed: the request head or body (408), the response head (504).
    case timeout
    /// Anything else the proxy refused or could not do: a malformed request, a store that
    /// could not be reached, an internal error.
    case error
    /// The connection became a tunnel (WebSocket and other upgrades).
    case upgraded
}
