import Foundation
import NIOCore
import NIOSSL
import NIOTLS

/// Waits for the TLS handshake of a new upstream connection, between `NIOSSLClientHandler` and
/// ``UpstreamConnection``, so the pool hands out a connection only once it is verified: a
/// refused handshake, a certificate that fails verification, or no handshake within the
/// upstream's `connect_timeout` fails the connect (→ 502, with the reason in the log) instead of
/// a request written into a connection that will never carry it. The certificate's name is
/// checked here, once the handshake verified its chain (``UpstreamServerIdentity``), before any
/// request byte is written. Removes itself once done, so
/// reads and writes on the pooled connection pass one handler fewer.
///
/// - Important: Loop-bound, like the connection it is part of.
final class UpstreamHandshakeHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer

    private let promise: EventLoopPromise<Void>
    private let timeout: TimeAmount
    private let target: String
    /// The name the certificate must be valid for; `nil`: not checked (`insecure_skip_verify`).
    private let verifiedName: String?
    private var timer: Scheduled<Void>?
    private var done = false

    /// - Parameters:
    ///   - target: the target as configured (`https://host:port`), for the error.
    ///   - verifiedName: the name the certificate must be valid for, `nil` to skip the check.
    init(promise: EventLoopPromise<Void>, timeout: TimeAmount, target: String, verifiedName: String?) {
        self.promise = promise
        self.timeout = timeout
        self.target = target
        self.verifiedName = verifiedName
    }

    func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive { armTimer(context: context) }
    }

    func channelActive(context: ChannelHandlerContext) {
        armTimer(context: context)
        context.fireChannelActive()
    }

    private func armTimer(context: ChannelHandlerContext) {
        guard timer == nil, !done else { return }
        let bound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        timer = context.eventLoop.scheduleTask(in: timeout) {
            let (handler, context) = bound.value
            handler.fail(UpstreamTLSError.handshakeTimedOut(target: handler.target), context: context)
            context.close(promise: nil)
        }
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case .handshakeCompleted = event as? TLSUserEvent, !done {
            if let problem = nameProblem(context: context) {
                fail(UpstreamTLSError.handshakeFailed(target: target, reason: problem), context: context)
                context.close(promise: nil)
                return
            }
            done = true
            timer?.cancel()
            context.pipeline.syncOperations.removeHandler(context: context, promise: nil)
            promise.succeed()
        }
        context.fireUserInboundEventTriggered(event)
    }

    private func nameProblem(context: ChannelHandlerContext) -> String? {
        guard let verifiedName else { return nil }
        guard let tls = try? context.pipeline.syncOperations.handler(type: NIOSSLClientHandler.self),
            let leaf = tls.peerCertificate
        else { return "the upstream presented no certificate" }
        return UpstreamServerIdentity.problem(leaf: leaf, name: verifiedName)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        var reason = ErrorText.describe(error)
        // BoringSSL says only CERTIFICATE_VERIFY_FAILED; the leaf it received says why, mostly
        // (found by an audit: an expired and a self-signed certificate read alike in the log).
        if !done, reason.contains("CERTIFICATE_VERIFY_FAILED"),
            let tls = try? context.pipeline.syncOperations.handler(type: NIOSSLClientHandler.self),
            let leaf = tls.peerCertificate
        {
            reason = UpstreamServerIdentity.verificationProblem(leaf: leaf, now: Date()) + " (CERTIFICATE_VERIFY_FAILED)"
        }
        fail(UpstreamTLSError.handshakeFailed(target: target, reason: reason), context: context)
        context.fireErrorCaught(error)
    }

    func channelInactive(context: ChannelHandlerContext) {
        fail(UpstreamTLSError.handshakeFailed(target: target, reason: "the upstream closed the connection"), context: context)
        context.fireChannelInactive()
    }

    private func fail(_ error: UpstreamTLSError, context: ChannelHandlerContext) {
        guard !done else { return }
        done = true
        timer?.cancel()
        promise.fail(error)
    }
}

/// Why a TLS connection to an upstream could not be made. The description goes to the log:
/// the target and what the TLS library said (a verification failure, a name mismatch, an alert
/// from the upstream), never key material.
enum UpstreamTLSError: Error, CustomStringConvertible {
    case handshakeFailed(target: String, reason: String)
    case handshakeTimedOut(target: String)
    /// A body read until the close ended without close_notify: it may have been cut.
    case truncated

    var description: String {
        switch self {
        case .handshakeFailed(let target, let reason): "TLS handshake with \(target) failed: \(reason)"
        case .handshakeTimedOut(let target): "TLS handshake with \(target) did not complete within connect_timeout"
        case .truncated: "the upstream closed the TLS connection without close_notify before a response read until the close ended"
        }
    }
}
