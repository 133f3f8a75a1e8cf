import NIOCore

/// Reading what sentinels and data servers say about the topology. Pure functions over
/// replies, so every shape (RESP2 and RESP3, nulls, garbage) is tested without a server.
enum SentinelReplies {
    /// The channel on which a sentinel announces a completed failover.
    static let switchMasterChannel = "+switch-master"
    /// The channel on which a sentinel announces that it starts a failover.
    static let tryFailoverChannel = "+try-failover"
    /// The channels on which a sentinel announces that it gave its failover up.
    static let failoverAbortChannels = [
        "-failover-abort-not-elected", "-failover-abort-no-good-slave", "-failover-abort-slave-timeout", "+failover-end-for-timeout",
    ]

    /// Whether a failover event's message, `master <name> <ip> <port>`, is about `master`.
    static func isAboutMaster(_ payload: ByteBuffer, master: String) -> Bool {
        let words = String(buffer: payload).split(separator: " ", omittingEmptySubsequences: true)
        return words.count >= 2 && words[0] == "master" && words[1] == master
    }

    /// `SENTINEL get-master-addr-by-name <name>`: `[ip, port]`, or null when the sentinel
    /// monitors no master of that name.
    enum MasterAddress: Equatable {
        case address(RedisEndpoint)
        case unknownMaster
        case unreadable
    }

    static func masterAddress(_ reply: RESPValue) -> MasterAddress {
        if reply.isNull { return .unknownMaster }
        guard let parts = reply.elements, parts.count == 2, let host = parts[0].string, !host.isEmpty,
            let port = parts[1].int64, (1...65535).contains(port)
        else { return .unreadable }
        return .address(RedisEndpoint(host: host, port: Int(port)))
    }

    /// The role a server reports first in its `ROLE` reply: `master`, `slave` or `sentinel`.
    static func role(_ reply: RESPValue) -> String? {
        reply.elements?.first?.string
    }

    /// A `+switch-master` message, `<name> <old ip> <old port> <new ip> <new port>`: the new
    /// primary when the message is about `master`, else nil (another master, or malformed).
    static func switchedPrimary(_ payload: ByteBuffer, master: String) -> RedisEndpoint? {
        let words = String(buffer: payload).split(separator: " ", omittingEmptySubsequences: true)
        guard words.count == 5, words[0] == master, let port = Int(words[4]), (1...65535).contains(port) else { return nil }
        return RedisEndpoint(host: String(words[3]), port: port)
    }

    /// What an error reply from a data server says about the server it came from.
    enum ServerProblem: Equatable {
        /// `-READONLY`: a replica. Whatever it was, it is no longer the primary.
        case readOnly
        /// `-LOADING`: loading its data set, so not serving; maybe still the primary.
        case loading
        /// `-MASTERDOWN`: a replica that lost its primary.
        case masterDown
    }

    static func serverProblem(_ message: ByteBuffer) -> ServerProblem? {
        let bytes = message.readableBytesView
        if bytes.starts(with: "READONLY".utf8) { return .readOnly }
        if bytes.starts(with: "LOADING".utf8) { return .loading }
        if bytes.starts(with: "MASTERDOWN".utf8) { return .masterDown }
        return nil
    }
}
