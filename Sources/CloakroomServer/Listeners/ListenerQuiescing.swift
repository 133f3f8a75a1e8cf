import NIOCore
import NIOExtras
import Synchronization

/// Graceful shutdown for every public listener. swift-nio-extras' `ServerQuiescingHelper`
/// follows one server channel: a second `makeServerChannelHandler(channel:)` leaves the
/// second listener's connections untracked, so they were never told to finish and were cut
/// when the event loops stopped (found by an audit: only the first listener's requests were
/// drained on SIGTERM). Each listener, those a reload opens included, gets a helper of its
/// own; shutdown quiesces them all and completes once every connection of every listener,
/// present or removed by a reload since, has closed.
final class ListenerQuiescing: Sendable {
    private let group: any EventLoopGroup
    private let helpers = Mutex<[ServerQuiescingHelper]>([])

    init(group: any EventLoopGroup) {
        self.group = group
    }

    /// For a listener's `serverChannelInitializer`.
    func makeServerChannelHandler(channel: any Channel) -> any ChannelHandler {
        let helper = ServerQuiescingHelper(group: group)
        helpers.withLock { $0.append(helper) }
        return helper.makeServerChannelHandler(channel: channel)
    }

    /// Closes every listener, sends each connection `ChannelShouldQuiesceEvent`, and completes
    /// `promise` when all have closed.
    func initiateShutdown(promise: EventLoopPromise<Void>) {
        let all = helpers.withLock { $0 }
        let loop = promise.futureResult.eventLoop
        let done = all.map { helper -> EventLoopFuture<Void> in
            let each = loop.makePromise(of: Void.self)
            helper.initiateShutdown(promise: each)
            return each.futureResult
        }
        EventLoopFuture.andAllComplete(done, on: loop).cascade(to: promise)
    }
}
