/// Why a command got no usable reply. The store turns every one of these into
/// `SessionStoreError.unavailable`; none of them carries a password or a reply's payload.
public enum RedisClientError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The TCP connection, TLS handshake or login did not complete within the connect timeout.
    case connectTimeout
    /// The server could not be reached, or the TLS handshake failed.
    case connectFailed(String)
    /// `AUTH` or `HELLO ... AUTH` was refused (wrong user or password, or a disabled user).
    case authenticationFailed(String)
    /// `SELECT` was refused (a database number the server does not have).
    case selectFailed(String)
    /// The open connection failed (a reset, a TLS error); it was closed.
    case connectionFailed(String)
    /// No reply within the command timeout; the connection was closed.
    case commandTimeout
    /// The connection closed (or was closed by an error) before the reply arrived.
    case connectionClosed
    /// The server sent bytes that are not an acceptable RESP reply; the connection was closed.
    case protocolError(String)
    /// Redis answered with an error reply (`-ERR ...`), which the caller did not expect.
    case serverError(String)
    /// The client was shut down.
    case shutDown
    /// The server answered `ROLE` with something other than `master` (a replica, a sentinel):
    /// it must not take writes, nor serve reads that must see the latest revocation.
    case notPrimary(String)
    /// The sentinels name no primary that answers as one right now (a failover is under way,
    /// or no sentinel can be reached).
    case noPrimary(String)
    /// The primary changed while this connection was being opened to the previous one.
    case primaryChanged
    /// `WAIT` confirmed a write on fewer replicas than `min_replicas` within the timeout.
    case notAcknowledged(acknowledged: Int, required: Int)
    /// `min_replicas`: a sentinel announced a failover while the write was under way.
    case failoverUnderWay

    public var description: String {
        switch self {
        case .connectTimeout: return "connect timed out"
        case .connectFailed(let why): return "cannot connect: \(why)"
        case .authenticationFailed(let why): return "authentication failed: \(why)"
        case .selectFailed(let why): return "cannot select the database: \(why)"
        case .connectionFailed(let why): return "connection failed: \(why)"
        case .commandTimeout: return "command timed out"
        case .connectionClosed: return "connection closed"
        case .protocolError(let why): return "protocol error: \(why)"
        case .serverError(let message): return "server error: \(message)"
        case .shutDown: return "client shut down"
        case .notPrimary(let role): return "the server is not the primary (ROLE \(role))"
        case .noPrimary(let why): return "no primary: \(why)"
        case .primaryChanged: return "the primary changed while connecting"
        case .notAcknowledged(let acknowledged, let required):
            return "the write reached \(acknowledged) of the \(required) replicas min_replicas requires"
        case .failoverUnderWay:
            return "a sentinel is running a failover: the replica that will be promoted may not have the write"
        }
    }
}
