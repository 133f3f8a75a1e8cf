import CloakroomSessions
import struct Foundation.Date
import Synchronization

/// The users of the built-in form login (`login.users_file`), read from a YAML file (grammar in
/// ``UsersDocument``) and kept current while the proxy runs.
///
/// Lookups notice changes to the file: at most once per ``checkInterval`` (by the injected
/// clock) a lookup stats the file, and when its inode, size or modification time changed it is
/// read again, so `cloakroom users add` takes effect without a restart. A file that has become
/// unreadable or invalid leaves the last good users in place and is reported by ``lastError``
/// until a later version of it reads cleanly.
///
/// - Important: Thread-safe. ``user(named:)`` may stat and read the file, which is blocking I/O:
///   call it where the password check runs, off the event loop.
public final class UsersFile: Sendable {
    public let path: String
    /// How often lookups look at the file for changes.
    public let checkInterval: Duration
    private let clock: any WallClock
    private let state: Mutex<State>
    /// Told after each re-read of a changed file: how many users it now has, or why its new
    /// contents are not in use (the server logs both; the message never holds a hash).
    public typealias ReloadObserver = @Sendable (Result<Int, UsersFileError>) -> Void
    private let observer: ReloadObserver?

    private struct State {
        var users: [String: LoginUser]
        /// The file as it was when ``users`` (or the last error) came from it.
        var signature: FileSignature?
        var lastCheck: Date
        var lastError: String?
    }

    /// Reads the file at `path`; throws a ``UsersFileError`` naming the file when it is missing
    /// or invalid.
    public convenience init(path: String) throws {
        try self.init(path: path, clock: SystemWallClock())
    }

    /// Same, with the clock that paces change checks (tests pass a `ManualWallClock`).
    public init(path: String, clock: any WallClock, checkInterval: Duration = .seconds(1), observer: ReloadObserver? = nil) throws {
        self.path = path
        self.clock = clock
        self.checkInterval = checkInterval
        self.observer = observer
        let signature = FileSignature(path: path)
        let users = try Self.load(path)
        state = Mutex(State(users: users, signature: signature, lastCheck: clock.now(), lastError: nil))
    }

    /// The user called `name` (exact, case-sensitive match), or `nil`.
    public func user(named name: String) -> LoginUser? {
        refreshIfDue()
        return state.withLock { $0.users[name] }
    }

    /// Why the file's current contents are not in use, or `nil` when they are.
    public var lastError: String? {
        state.withLock { $0.lastError }
    }

    /// Stats the file if ``checkInterval`` has passed since the last look, and reloads it when
    /// it changed. One caller does the check; the file I/O happens outside the lock.
    private func refreshIfDue() {
        let now = clock.now()
        let known: FileSignature?? = state.withLock { state in
            // `abs` so that a clock stepped backwards does not stop the checks.
            guard abs(now.timeIntervalSince(state.lastCheck)) >= checkInterval.timeInterval else { return .none }
            state.lastCheck = now
            return .some(state.signature)
        }
        guard case .some(let previous) = known else { return }
        let current = FileSignature(path: path)
        guard current != previous else { return }
        do {
            let users = try Self.load(path)
            state.withLock { state in
                state.users = users
                state.signature = current
                state.lastError = nil
            }
            observer?(.success(users.count))
        } catch {
            state.withLock { state in
                state.signature = current
                state.lastError = "\(error) (still using the last good copy)"
            }
            observer?(.failure(error))
        }
    }

    /// Every problem of the file at `path`, in file order (empty when it reads cleanly), for
    /// `cloakroom check`, which reports them all at once.
    public static func problems(at path: String) -> [UsersFileError] {
        do {
            guard let text = try readText(path) else {
                return [UsersFileError(path: path, message: "no such file (create it with `cloakroom users add`)")]
            }
            return try UsersDocument.read(text, path: path).problems
        } catch {
            return [error]
        }
    }

    private static func load(_ path: String) throws(UsersFileError) -> [String: LoginUser] {
        guard let text = try readText(path) else {
            throw UsersFileError(path: path, message: "no such file (create it with `cloakroom users add`)")
        }
        return try UsersDocument.parse(text, path: path)
    }

    /// The file as UTF-8 text, or `nil` when it does not exist.
    static func readText(_ path: String) throws(UsersFileError) -> String? {
        let bytes: [UInt8]?
        do {
            bytes = try FileSystem.contents(of: path)
        } catch {
            throw UsersFileError(path: path, message: error.message)
        }
        guard let bytes else { return nil }
        guard let text = String(validating: bytes, as: UTF8.self) else {
            throw UsersFileError(path: path, message: "not UTF-8 text")
        }
        return text
    }
}
