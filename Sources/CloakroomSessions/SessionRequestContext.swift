/// Who asks a store to create or end sessions, and why: set by the proxy around the store calls
/// it makes for one request (an admin API call included) and read where those calls land.
///
/// - Stores read ``origin`` and ``maxPerUser`` when they create a session: where it came from,
///   and how many sessions its user may keep (`session.max_per_user`).
/// - The audit log reads ``requestID`` and ``endReason`` for the endings those calls cause
///   (``SessionAuditEvent/Kind/revoked``), since a store only knows that it was asked to end a
///   session, not whether by a logout, an admin or a backend.
///
/// A task-local, as swift-distributed-tracing's `ServiceContext` is: single sign-on and other
/// callers reach the store through APIs that know nothing of governance, and their logins are
/// still limited and their endings still attributed, because the proxy sets the context around
/// the whole of a request's store work. Code outside any context creates unlimited sessions of
/// unknown origin.
public struct SessionRequestContext: Sendable, Equatable {
    /// The request's `X-Request-Id`, or `nil` when no request caused the work.
    public var requestID: String?
    /// Where a session created in this context comes from.
    public var origin: SessionOrigin
    /// Why sessions a store is asked to end in this context end (logout, admin, backend, ...).
    public var endReason: SessionEndReason?
    /// `session.max_per_user` for sessions created in this context; 0 for no limit.
    public var maxPerUser: Int

    public init(requestID: String?, origin: SessionOrigin, endReason: SessionEndReason? = nil, maxPerUser: Int = 0) {
        self.requestID = requestID
        self.origin = origin
        self.endReason = endReason
        self.maxPerUser = maxPerUser
    }

    /// The context of the store call under way, if the proxy set one.
    @TaskLocal public static var current: SessionRequestContext?

    /// Runs `body` with this context as ``current``.
    public func run<T>(_ body: () async throws -> T) async rethrows -> T {
        try await Self.$current.withValue(self, operation: body)
    }

    /// This context, with sessions ended in it ending for `reason`.
    public func ending(_ reason: SessionEndReason) -> SessionRequestContext {
        var context = self
        context.endReason = reason
        return context
    }

    /// The limit stores apply to a session created now (0: none, also outside any context).
    static var currentLimit: Int { current?.maxPerUser ?? 0 }
    /// The origin stores record for a session created now.
    static var currentOrigin: SessionOrigin { current?.origin ?? .unknown }
}

extension SessionStore {
    /// ``SessionStore/create(key:attributes:)`` with an explicit origin and limit, for callers
    /// outside a request (tests, tools): the same as creating inside a context holding them.
    public func create(key: SessionKey, attributes: JSONObject, origin: SessionOrigin, maxPerUser: Int) async throws -> Session {
        let context = SessionRequestContext(requestID: SessionRequestContext.current?.requestID, origin: origin, maxPerUser: maxPerUser)
        return try await context.run { try await create(key: key, attributes: attributes) }
    }
}
