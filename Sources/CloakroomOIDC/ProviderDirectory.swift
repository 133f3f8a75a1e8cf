import Logging
import Synchronization

import class Foundation.JSONDecoder
import struct Foundation.Data

/// The provider's discovery document, fetched in the background: the proxy starts while the
/// provider is down and keeps trying every ``retryInterval`` until it answers. Until then every
/// step that needs it fails with ``OIDCFailure/unavailable(_:)`` (502), and asking also tries
/// once more right away.
public final class ProviderDirectory: Sendable {
    public static let retryInterval: Duration = .seconds(2)

    private let issuer: String
    private let http: ProviderHTTP
    private let logger: Logger
    private let state = Mutex<(metadata: ProviderMetadata?, lastError: String, task: Task<Void, Never>?)>((nil, "discovery not done yet", nil))

    public init(issuer: String, http: ProviderHTTP, logger: Logger) {
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

    /// The document, or ``OIDCFailure/unavailable(_:)`` after one more try.
    public func metadata() async throws(OIDCFailure) -> ProviderMetadata {
        if let known = state.withLock({ $0.metadata }) { return known }
        _ = await discover()
        if let known = state.withLock({ $0.metadata }) { return known }
        throw .unavailable(state.withLock { $0.lastError })
    }

    /// The document if discovery has succeeded, without waiting.
    public var known: ProviderMetadata? { state.withLock { $0.metadata } }

    /// One attempt. Returns whether the document is known now.
    @discardableResult
    func discover() async -> Bool {
        do {
            let response = try await http.get(discoveryURL)
            guard response.status == 200 else { return failed("discovery answered \(response.status)") }
            let metadata = try JSONDecoder().decode(ProviderMetadata.self, from: Data(response.body))
            // OpenID Connect Discovery §4.3: the document must name the issuer it was fetched for.
            guard metadata.issuer == issuer else {
                return failed("discovery document names issuer \"\(metadata.issuer)\", not the configured one")
            }
            let first = state.withLock { state -> Bool in
                defer { state.metadata = metadata }
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
            defer { state.lastError = why }
            return state.lastError != why
        }
        if changed { logger.warning("identity provider discovery failed; retrying", metadata: ["issuer": "\(issuer)", "error": "\(why)"]) }
        return false
    }
}
