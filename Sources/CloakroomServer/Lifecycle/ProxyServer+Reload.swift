import CloakroomConfig
import CloakroomProxy
import CloakroomSessions
import NIOCore

/// Hot reload: SIGHUP and the admin API's `POST /reload`.
extension ProxyServer {
    /// What a reload did: `.reloaded`, or `.refused(problems)` with the old configuration still
    /// serving, each problem naming its key.
    public typealias ReloadOutcome = AdminAPI.ReloadResult

    /// Re-reads the configuration. Valid: routes, upstreams, identity rules, timeouts, cookie
    /// settings, secrets, the users file, the admin token and certificates switch for new
    /// requests and connections; listeners whose address appeared or went away are opened or
    /// closed; no connection or session is dropped. Invalid: the old configuration keeps
    /// serving and every problem is logged with its key path and returned.
    ///
    /// The session store and the admin listener's address cannot change without a restart: a
    /// reload that changes them is refused, naming the key.
    public func reload() async -> ReloadOutcome {
        guard let configurationSource else { return .refused(["reload: this server was started without a configuration file"]) }
        let alreadyReloading = state.withLock { state -> Bool in
            defer { state.reloading = true }
            return state.reloading
        }
        guard !alreadyReloading else { return .refused(["reload: another reload is in progress"]) }
        defer { state.withLock { $0.reloading = false } }

        let outcome = await reload(from: configurationSource)
        switch outcome {
        case .reloaded:
            logger.notice("configuration reloaded")
        case .refused(let problems):
            logger.error("configuration reload refused: the previous configuration keeps serving", metadata: ["problems": "\(problems.count)"])
            for problem in problems { logger.error("  \(problem)") }
        }
        return outcome
    }

    private func reload(from source: @Sendable () throws -> Configuration) async -> ReloadOutcome {
        let configuration: Configuration
        do {
            configuration = try source()
        } catch let error as ConfigurationError {
            // Every problem, as `cloakroom check` lists them: the files of what was read are
            // checked too.
            return .refused(error.problems.map(\.description) + (error.readable.map(Self.problems(in:)) ?? []))
        } catch {
            return .refused(["\(error)"])
        }
        let old = holder.current.configuration
        var problems: [String] = []
        if configuration.session.store != old.session.store {
            problems.append("session.store: changing the session store needs a restart")
        }
        if configuration.admin?.listen != old.admin?.listen {
            problems.append("admin.listen: adding, removing or moving the admin listener needs a restart")
        }
        problems += Self.problems(in: configuration)
        guard problems.isEmpty else { return .refused(problems) }
        let runtime: ProxyRuntime
        do {
            runtime = try factory.make(configuration)
            try await runtime.prepare()
        } catch {
            return .refused(["\(error)"])
        }

        // Listeners: open the new addresses first, so a bind failure changes nothing.
        let (current, quiescing) = state.withLock { ($0.listeners, $0.quiescing) }
        guard let quiescing else { return .refused(["reload: the server is not running"]) }
        let wanted = Set(configuration.listeners.map(\.address))
        let added = configuration.listeners.map(\.address).filter { current[$0] == nil }
        let opened: [SocketAddressSpec: any Channel]
        do {
            opened = try await bind(added, quiescing: quiescing)
        } catch {
            return .refused(["\(error)"])
        }
        let removed = current.filter { !wanted.contains($0.key) }
        state.withLock { state in
            state.listeners.merge(opened) { _, new in new }
            for address in removed.keys { state.listeners[address] = nil }
        }
        // Session timeouts: the store judges every session by the new ones from the next call
        // on (those made before the reload too), and the sweeper keeps pace with them.
        store.updateTimeouts(SessionTimeouts(configuration.session))
        restartSweeper(every: SessionStoreFactory.sweepInterval(configuration.session))
        let replaced = holder.replace(with: runtime)
        for (address, channel) in removed {
            logger.info("stopped listening", metadata: ["address": "\(address)"])
            try? await channel.close()
        }
        // Connections of the old pools finish their exchanges; idle ones go now.
        replaced.upstreams.closeIdle(on: factory.eventLoops)
        return .reloaded
    }
}
