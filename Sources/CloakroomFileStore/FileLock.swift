#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// An exclusive `flock` on `<database>.lock`, held for as long as a store has the database
/// open, so two cloakrooms never write one file.
///
/// A separate lock file rather than SQLite's own locking: SQLite would make a second process
/// wait (or fail mid-request) instead of refusing to start, and `locking_mode=EXCLUSIVE` would
/// also shut out an operator reading the file with `sqlite3`. `flock` locks belong to an open
/// file description, so a second open in the same process is refused too, and the kernel drops
/// the lock when the process dies, so a crash never leaves a stale lock behind.
///
/// - Important: `acquire` and `release` make blocking system calls: run them on a thread pool.
struct FileLock: Sendable {
    private let descriptor: CInt

    /// Takes the lock for the database at `databasePath`, creating the lock file if needed.
    /// Throws ``FileStoreError/locked(_:)`` when someone else holds it.
    static func acquire(databasePath: String) throws -> FileLock {
        let lockPath = databasePath + ".lock"
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
        return FileLock(descriptor: descriptor)
    }

    /// Drops the lock. The file stays: deleting it would race with a process about to lock it.
    func release() {
        _ = flock(descriptor, LOCK_UN)
        close(descriptor)
    }

    private static func errorText(_ code: CInt) -> String {
        String(cString: strerror(code))
    }
}
