import Logging
import Synchronization

import class Foundation.JSONDecoder
import struct Foundation.Date
import struct Foundation.Data

/// The provider's discovery document, fetched in the background: the proxy starts while the
/// provider is down and keeps trying every ``retryInterval`` until it answers. Until then every
/// step that needs it fails with ``OIDCFailure/unavailable(_:)`` (502). After a failure, asking
/// is answered at once with it while an attempt is under way (the background's, or another
/// request's) or the failure is younger than ``failureInterval``, so an unreachable provider
/// costs requests nothing rather than the HTTP client's connect timeout each, and a refusing one
/// is asked at most a few times a second; otherwise asking tries once more right away (a
/// provider that has just come up is found by the next login, not the next background try).
/// Concurrent attempts are one.
public final class ProviderDirectory: Sendable {
    public static let retryInterval: Duration = .seconds(2)
    /// How long a failure answers requests without a new attempt.
    public static let failureInterval: Double = 0.5

    private let issuer: String
    private let http: ProviderHTTP
    private let logger: Logger
    private struct State {
        var metadata: ProviderMetadata?
        var lastError = "discovery not done yet"
        /// When the last attempt failed (nil: none has, or one succeeded since).
        var failedAt: Date?
        var task: Task<Void, Never>?
        /// The attempt under way, which every caller of ``discover()`` joins.
        var attempt: Task<Bool, Never>?
    }
    private let state = Mutex(State())

    private let now: @Sendable () -> Date

    /// - Parameter now: the clock, injected for tests of the retry interval.
    public init(issuer: String, http: ProviderHTTP, logger: Logger, now: @escaping @Sendable () -> Date = { Date() }) {
        self.now = now
        self.issuer = issuer
        self.http = http
        self.logger = logger
    }

    /// `{issuer}/.well-known/openid-configuration`, the issuer without its trailing slash.
    public var discoveryURL: String {
        (issuer.hasSuffix("/") ? String(issuer.dropLast()) : issuer) + "/.well-known/openid-configuration"
    }

    /// Starts the background discovery (once).
    public func start() {
        state.withLock { state in
            guard state.task == nil else { return }
            state.task = Task { [weak self] in
                while let self, !Task.isCancelled {
                    if await self.discover() { return }
                    try? await Task.sleep(for: Self.retryInterval)
                }
            }
        }
    }

    public func stop() {
        state.withLock { $0.task?.cancel() }
    }

    /// The document, or ``OIDCFailure/unavailable(_:)``: after one more try when none is under
    /// way, at once with the last failure when one is.
    public func metadata() async throws(OIDCFailure) -> ProviderMetadata {
        let now = now()
        let (known, answerNow, lastError) = state.withLock { state in
            let recent = state.failedAt.map { state.attempt != nil || now.timeIntervalSince($0) < Self.failureInterval } ?? false
            return (state.metadata, recent, state.lastError)
        }
        if let known { return known }
        if answerNow { throw .unavailable(lastError) }
        _ = await discover()
        if let known = state.withLock({ $0.metadata }) { return known }
        throw .unavailable(state.withLock { $0.lastError })
    }

    /// The document if discovery has succeeded, without waiting.
    public var known: ProviderMetadata? { state.withLock { $0.metadata } }

    /// One attempt, joined when one is under way. Returns whether the document is known now.
    @discardableResult
    func discover() async -> Bool {
        let attempt = state.withLock { state -> Task<Bool, Never> in
            if let attempt = state.attempt { return attempt }
            let attempt = Task { await self.attemptOnce() }
            state.attempt = attempt
            return attempt
        }
        return await attempt.value
    }

    private func attemptOnce() async -> Bool {
        defer { state.withLock { $0.attempt = nil } }
        do {
            let response = try await http.get(discoveryURL)
            guard response.status == 200 else { return failed("discovery answered \(response.status)") }
            let metadata = try JSONDecoder().decode(ProviderMetadata.self, from: Data(response.body))
            // OpenID Connect Discovery §4.3: the document must name the issuer it was fetched for.
            guard metadata.issuer == issuer else {
                return failed("discovery document names issuer \"\(metadata.issuer)\", not the configured one")
            }
            let first = state.withLock { state -> Bool in
                defer { state.metadata = metadata; state.failedAt = nil }
                return state.metadata == nil
            }
            if first { logger.info("identity provider discovered", metadata: ["issuer": "\(issuer)"]) }
            return true
        } catch let error as DecodingError {
            return failed("discovery document unreadable: \(error)")
        } catch {
            return failed("\(error)")
        }
    }

    private func failed(_ why: String) -> Bool {
        let changed = state.withLock { state -> Bool in
            defer { state.lastError = why; state.failedAt = now() }
            return state.lastError != why
        }
        if changed { logger.warning("identity provider discovery failed; retrying", metadata: ["issuer": "\(issuer)", "error": "\(why)"]) }
        return false
    }
}
