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
    ///
    /// Reloads run one at a time, in the order they were asked for: one asked for while another
    /// runs waits for it, then reads the file again (it may have changed meanwhile), so two
    /// deploy scripts reloading at once each get the outcome of a reload that read their file.
    public func reload() async -> ReloadOutcome {
        guard let configurationSource else { return .refused(["reload: this server was started without a configuration file"]) }
        let turn = state.withLock { state -> Task<ReloadOutcome, Never> in
            let previous = state.lastReload
            let turn = Task { [self] in
                _ = await previous?.value
                return await reloadLogged(from: configurationSource)
            }
            state.lastReload = turn
            return turn
        }
        return await turn.value
    }

    private func reloadLogged(from source: @Sendable () throws -> Configuration) async -> ReloadOutcome {
        let outcome = await reload(from: source)
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
            // checked too, and so are the keys a reload cannot change, where they were read.
            let restartOnly = error.readable.map { restartOnlyChanges(to: $0, besides: error.problems) } ?? []
            return .refused(error.problems.map(\.description) + restartOnly + (error.readable.map(Self.problems(in:)) ?? []))
        } catch {
            return .refused(["\(error)"])
        }
        var problems = restartOnlyChanges(to: configuration)
        problems += Self.problems(in: configuration)
        guard problems.isEmpty else { return .refused(problems) }
        let runtime: ProxyRuntime
        do {
            runtime = try factory.make(configuration, previous: holder.current)
            try await runtime.prepare()
        } catch {
            return .refused(["\(error)"])
        }

        // Listeners: open the new addresses first, so a bind failure changes nothing.
        let (current, quiescing) = state.withLock { ($0.listeners, $0.quiescing) }
        guard let quiescing else { return .refused(["reload: the server is not running"]) }
        let wanted = Set(configuration.listeners.map(\.address))
        let added = configuration.listeners.enumerated().map { ($0.offset, $0.element.address) }.filter { current[$0.1] == nil }
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
        await changeTimeouts(
            from: SessionTimeouts(holder.current.configuration.session), to: SessionTimeouts(configuration.session),
            sweepingEvery: SessionStoreFactory.sweepInterval(configuration.session))
        let replaced = holder.replace(with: runtime)
        for (address, channel) in removed {
            logger.info("stopped listening", metadata: ["address": "\(address)"])
            try? await channel.close()
        }
        // Connections of the pools not kept finish their exchanges; idle ones go now.
        replaced.upstreams.retire(replacedBy: runtime.upstreams, on: factory.eventLoops)
        return .reloaded
    }

    /// The keys a reload cannot change that `configuration` changes, each as a problem. With
    /// `besides` (the problems of a file that did not validate), a key with a problem in it or
    /// above it holds its default and is not compared.
    private func restartOnlyChanges(to configuration: Configuration, besides: [ConfigurationProblem] = []) -> [String] {
        let old = holder.current.configuration
        func unread(_ key: String) -> Bool {
            besides.contains { problem in
                let path = problem.path
                return path.isEmpty || path == key || path.hasPrefix(key + ".") || path.hasPrefix(key + "[") || key.hasPrefix(path + ".")
            }
        }
        var problems: [String] = []
        if !unread("session.store"), configuration.session.store != old.session.store {
            problems.append("session.store: changing the session store needs a restart")
        }
        if !unread("admin.listen"), configuration.admin?.listen != old.admin?.listen {
            problems.append("admin.listen: adding, removing or moving the admin listener needs a restart")
        }
        return problems
    }
}
