import Foundation
import Synchronization

/// A steady stream of requests, logins and revocations through real proxies, on threads of its
/// own (blocking keep-alive sockets), recording every answer with the time it was sent, so a
/// test can check afterwards what each answer was allowed to be.
///
/// Sessions move through states the test can rely on: a login answered 200 with a cookie is
/// *live* (acknowledged); the revoker takes a live session out of the pool before revoking it
/// (so no request uses it meanwhile), and puts it in *revoked* on a 200, or *uncertain* on a 503
/// (a refused revocation may or may not have reached the store). Requests are sent only with
/// live or revoked sessions, labelled with the state they had when sent; the revoker never takes
/// a session a request is under way with, so that label stays true until the answer.
final class FailoverLoad: Sendable {
    struct Session: Sendable, Hashable {
        var sub: String
        var cookie: String
    }

    enum Kind: String, Sendable {
        case live, revoked, login, revoke
    }

    struct Answer: Sendable {
        var kind: Kind
        var sent: ContinuousClock.Instant
        var instance: Int
        var status: Int
        /// For requests: the `n` of `/api/me?n=N`, and whose session it carried.
        var number: Int = 0
        var sub: String = ""
    }

    struct State {
        var live: [Session] = []
        var revoked: [Session] = []
        var uncertain: [Session] = []
        var answers: [Answer] = []
        var brokenConnections = 0
        var next = 0
        /// Requests under way, by session.
        var inFlight: [String: Int] = [:]
    }

    let ports: [Int]
    let adminPorts: [Int]
    let token: String
    let state: Mutex<State>
    private let running = Atomic<Bool>(false)
    private let threadsDone = Atomic<Int>(0)
    private let threadCount = 3

    init(ports: [Int], adminPorts: [Int], token: String, live: [Session]) {
        self.ports = ports
        self.adminPorts = adminPorts
        self.token = token
        state = Mutex(State(live: live))
    }

    var answers: [Answer] { state.withLock { $0.answers } }
    var live: [Session] { state.withLock { $0.live } }
    var revoked: [Session] { state.withLock { $0.revoked } }
    var brokenConnections: Int { state.withLock { $0.brokenConnections } }

    func start() {
        running.store(true, ordering: .releasing)
        Thread.detachNewThread { self.loop(self.request, pause: 0) }
        Thread.detachNewThread { self.loop(self.login, pause: 0.01) }
        Thread.detachNewThread { self.loop(self.revoke, pause: 0.03) }
    }

    /// Stops and returns once every thread has finished its last exchange.
    func stop() async {
        running.store(false, ordering: .releasing)
        while threadsDone.load(ordering: .acquiring) < threadCount { try? await Task.sleep(for: .milliseconds(10)) }
    }

    // MARK: The three streams

    /// Runs `step` with a keep-alive client per port, replacing one the server closed.
    private func loop(_ step: (inout [Int: KeepAliveClient], Int) throws -> Void, pause: Double) {
        var clients: [Int: KeepAliveClient] = [:]
        var turn = 0
        while running.load(ordering: .acquiring) {
            turn += 1
            do {
                try step(&clients, turn)
            } catch {
                clients = [:]
                state.withLock { $0.brokenConnections += 1 }
            }
            if pause > 0 { Thread.sleep(forTimeInterval: pause) }
        }
        threadsDone.add(1, ordering: .releasing)
    }

    private func client(_ clients: inout [Int: KeepAliveClient], _ port: Int) throws -> KeepAliveClient {
        if let client = clients[port] { return client }
        let client = try KeepAliveClient(port: port, timeout: 10)
        clients[port] = client
        return client
    }

    /// `GET /api/me?n=N` with a live or revoked session, on the instances in turn.
    private func request(_ clients: inout [Int: KeepAliveClient], _ turn: Int) throws {
        let instance = turn % ports.count
        let pick = state.withLock { state -> (Session, Kind, Int)? in
            let useRevoked = !state.revoked.isEmpty && turn % 4 == 0
            guard let session = useRevoked ? state.revoked.randomElement() : state.live.randomElement() else { return nil }
            state.next += 1
            state.inFlight[session.sub, default: 0] += 1
            return (session, useRevoked ? .revoked : .live, state.next)
        }
        guard let (session, kind, number) = pick else { return Thread.sleep(forTimeInterval: 0.005) }
        defer { state.withLock { $0.inFlight[session.sub, default: 1] -= 1 } }
        let sent = ContinuousClock.now
        let (status, _) = try client(&clients, ports[instance]).send(
            "GET /api/me?n=\(number) HTTP/1.1\r\nHost: 127.0.0.1\r\nCookie: \(session.cookie)\r\n\r\n")
        record(Answer(kind: kind, sent: sent, instance: instance, status: status, number: number, sub: session.sub))
    }

    /// A backend login, `GET /login?sub=NAME`, on the instances in turn.
    private func login(_ clients: inout [Int: KeepAliveClient], _ turn: Int) throws {
        let instance = turn % ports.count
        let sub = "load\(turn)"
        let sent = ContinuousClock.now
        let (status, head) = try client(&clients, ports[instance]).send("GET /login?sub=\(sub) HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        let cookie = head.split(separator: "\r\n").first { $0.lowercased().hasPrefix("set-cookie:") }
            .flatMap { $0.dropFirst("set-cookie:".count).split(separator: ";").first }
            .map { $0.trimmingCharacters(in: .whitespaces) }
        state.withLock { state in
            state.answers.append(Answer(kind: .login, sent: sent, instance: instance, status: status, sub: sub))
            if status == 200, let cookie { state.live.append(Session(sub: sub, cookie: cookie)) }
        }
    }

    /// `DELETE /users/SUB/sessions` on the admin APIs in turn, for a session a login of this
    /// run made (the sessions the test set up before are left alone).
    private func revoke(_ clients: inout [Int: KeepAliveClient], _ turn: Int) throws {
        let instance = turn % adminPorts.count
        let taken = state.withLock { state -> Session? in
            let candidates = state.live.indices.filter { state.live[$0].sub.hasPrefix("load") && state.inFlight[state.live[$0].sub, default: 0] == 0 }
            guard let index = candidates.randomElement() else { return nil }
            return state.live.remove(at: index)
        }
        guard let session = taken else { return }
        let sent = ContinuousClock.now
        let status: Int
        do {
            (status, _) = try client(&clients, adminPorts[instance]).send(
                "DELETE /users/\(session.sub)/sessions HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer \(token)\r\nContent-Length: 0\r\n\r\n")
        } catch {
            state.withLock { $0.uncertain.append(session) }
            throw error
        }
        state.withLock { state in
            state.answers.append(Answer(kind: .revoke, sent: sent, instance: instance, status: status, sub: session.sub))
            if status == 200 { state.revoked.append(session) } else { state.uncertain.append(session) }
        }
    }

    private func record(_ answer: Answer) {
        state.withLock { $0.answers.append(answer) }
    }
}
