/// One inbound flow-control window (a stream's, or the connection's), kept so that it reopens
/// only as the bytes received are taken: when they are handed to the exchange, which takes them
/// only while its upstream can (``ExchangeDriver/readsRequest``). Bytes held back meanwhile are
/// ``buffered``; the peer's window is credited again once they are taken.
///
/// The increment rule is NIO's own (`InboundWindowManager`, which its stream multiplexer runs
/// per child channel): nothing while the window, counting what is buffered as already given
/// back, is at least half the target; then back up to the target in one WINDOW_UPDATE.
struct HTTP2InboundWindow {
    /// The window the peer is kept at while nothing is held back.
    private(set) var target: Int
    /// The window as NIO last reported it (`NIOHTTP2WindowUpdatedEvent.inboundWindowSize`), or
    /// nil before the first report.
    private var lastSize: Int?
    /// Bytes received and not yet taken.
    private(set) var buffered = 0

    init(target: Int) {
        self.target = max(0, min(target, Self.maxSize))
    }

    static let maxSize = Int(Int32.max)

    /// NIO reports the window after a frame arrived or a WINDOW_UPDATE was sent; returns the
    /// increment to send now, if any.
    mutating func windowChanged(to size: Int) -> Int? {
        lastSize = size
        return increment()
    }

    /// `count` received bytes are held back (not yet taken).
    mutating func hold(_ count: Int) {
        buffered += count
    }

    /// `count` held bytes were taken; returns the increment to send now, if any.
    mutating func took(_ count: Int) -> Int? {
        buffered -= count
        assert(buffered >= 0)
        return increment()
    }

    /// SETTINGS_INITIAL_WINDOW_SIZE changed by `delta` (our own, once acknowledged).
    mutating func targetChanged(by delta: Int) -> Int? {
        target = max(0, min(target + delta, Self.maxSize))
        guard let lastSize else { return nil }
        return windowChanged(to: lastSize + delta)
    }

    /// The increment due now. Counted as sent at once: NIO reports the new size only when the
    /// WINDOW_UPDATE leaves its buffers, and a second increment computed from the old size
    /// meanwhile would open the window past its target.
    private mutating func increment() -> Int? {
        guard let size = lastSize.map({ $0 + buffered }), size < target else { return nil }
        let increment: Int
        if size >= 0 {
            increment = target - size
            guard increment >= size else { return nil }
        } else {
            increment = min(-size + target, Self.maxSize)
        }
        lastSize! += increment
        return increment
    }
}
