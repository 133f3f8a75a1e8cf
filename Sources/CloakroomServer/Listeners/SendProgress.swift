import NIOCore

/// Whether a client whose socket stays unwritable is taking any of what was written: the
/// bytes still buffered in the channel, compared at each `client.body_timeout`. The channel
/// becomes writable again only once its buffer drains below the low watermark, which a slow
/// reader may take longer than the timeout to do while it reads all along (found by an audit:
/// downloads read steadily at 60 KB/s were cut). So the send timeout cuts a client only when
/// not one byte left the buffer for a whole `body_timeout`, as nginx's `send_timeout` does
/// between two successive writes.
///
/// - Important: Loop-bound: used on the channel's event loop only.
struct SendProgress {
    private var buffered: Int

    /// Starts watching `channel`, which has just become unwritable.
    init(_ channel: any Channel) {
        buffered = Self.buffered(channel)
    }

    /// At the end of a `body_timeout`: whether the client took some of the buffer since the
    /// start or the last check (the next period counts from now).
    mutating func advanced(_ channel: any Channel) -> Bool {
        let now = Self.buffered(channel)
        defer { buffered = now }
        return now < buffered
    }

    private static func buffered(_ channel: any Channel) -> Int {
        (try? channel.syncOptions?.getOption(.bufferedWritableBytes)) ?? 0
    }
}
