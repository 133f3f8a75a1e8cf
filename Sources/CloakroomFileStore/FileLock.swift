#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// An exclusive `flock` on `<database>.lock`, and on the database file itself, held for as
/// long as a store has the database open, so two cloakrooms never write one file.
///
/// A separate lock file rather than SQLite's own locking: SQLite would make a second process
/// wait (or fail mid-request) instead of refusing to start, and `locking_mode=EXCLUSIVE` would
/// also shut out an operator reading the file with `sqlite3`. `flock` locks belong to an open
/// file description, so a second open in the same process is refused too, and the kernel drops
/// the lock when the process dies, so a crash never leaves a stale lock behind.
///
/// The same file can have other names (found by an audit: a second serve through a symbolic
/// or hard link started, and acknowledged logins were lost between two write-ahead logs). So
/// the lock file is named after the path with its symbolic links resolved, and the database
/// file is locked too, which a lock on its inode holds whatever name it is opened by. SQLite
/// takes `fcntl` locks, which `flock` does not touch on Linux.
///
/// - Important: `acquire` and `release` make blocking system calls: run them on a thread pool.
struct FileLock: Sendable {
    private let descriptor: CInt
    /// The database file's own lock, once the file exists; -1 before.
    private var databaseDescriptor: CInt = -1

    /// Takes the lock for the database at `databasePath`, creating the lock file if needed, and
    /// the database file's lock when it exists. Throws ``FileStoreError/locked(_:)`` when
    /// someone else holds either.
    static func acquire(databasePath: String) throws -> FileLock {
        let lockPath = canonical(databasePath) + ".lock"
        let descriptor = open(lockPath, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else {
            throw FileStoreError.io(databasePath, "cannot open lock file \(lockPath): \(errorText(errno))")
        }
        guard flock(descriptor, LOCK_EX | LOCK_NB) == 0 else {
            let code = errno
            close(descriptor)
            if code == EWOULDBLOCK { throw FileStoreError.locked(databasePath) }
            throw FileStoreError.io(databasePath, "cannot lock \(lockPath): \(errorText(code))")
        }
        // The holder's PID, for an operator wondering who has the file; best effort.
        let pid = Array("\(getpid())\n".utf8)
        if ftruncate(descriptor, 0) == 0 {
            _ = pid.withUnsafeBytes { write(descriptor, $0.baseAddress, $0.count) }
        }
        let lock = FileLock(descriptor: descriptor)
        guard access(databasePath, F_OK) == 0 else { return lock }
        do {
            return try lock.lockingDatabaseFile(databasePath)
        } catch {
            lock.release()
            throw error
        }
    }

    /// This lock with the database file's own, if not yet taken (the file exists now: SQLite
    /// made it).
    func lockingDatabaseFile(_ databasePath: String) throws -> FileLock {
        guard databaseDescriptor < 0 else { return self }
        let file = open(databasePath, O_RDONLY | O_CLOEXEC)
        guard file >= 0 else { throw FileStoreError.io(databasePath, "cannot open: \(Self.errorText(errno))") }
        guard flock(file, LOCK_EX | LOCK_NB) == 0 else {
            let code = errno
            close(file)
            if code == EWOULDBLOCK { throw FileStoreError.locked(databasePath) }
            throw FileStoreError.io(databasePath, "cannot lock: \(Self.errorText(code))")
        }
        var locked = self
        locked.databaseDescriptor = file
        return locked
    }

    /// Drops the locks. The lock file stays: deleting it would race with a process about to lock it.
    func release() {
        if databaseDescriptor >= 0 {
            _ = flock(databaseDescriptor, LOCK_UN)
            close(databaseDescriptor)
        }
        _ = flock(descriptor, LOCK_UN)
        close(descriptor)
    }

    /// `path` with its symbolic links resolved: the file's, when it exists, else its
    /// directory's with the name appended; `path` itself when neither resolves.
    static func canonical(_ path: String) -> String {
        if let resolved = realPath(path) { return resolved }
        let slash = path.lastIndex(of: "/")
        let directory = slash.map { path[..<$0].isEmpty ? "/" : String(path[..<$0]) } ?? "."
        let name = slash.map { String(path[path.index(after: $0)...]) } ?? path
        guard let resolved = realPath(directory) else { return path }
        return resolved.hasSuffix("/") ? resolved + name : resolved + "/" + name
    }

    private static func realPath(_ path: String) -> String? {
        guard let resolved = realpath(path, nil) else { return nil }
        defer { free(resolved) }
        return String(cString: resolved)
    }

    private static func errorText(_ code: CInt) -> String {
        String(cString: strerror(code))
    }
}
