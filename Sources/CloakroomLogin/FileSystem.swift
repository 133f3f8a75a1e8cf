#if canImport(Darwin)
import Darwin
#elseif canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// What `stat` says about a file, enough to notice that it was replaced or rewritten: a rename
/// changes the inode, an edit in place changes the modification time or size.
struct FileSignature: Equatable, Sendable {
    var device: UInt64
    var inode: UInt64
    var size: Int64
    var modifiedSeconds: Int64
    var modifiedNanoseconds: Int64
    /// Permission bits (`0o600`).
    var mode: UInt32
    /// The owner's user and group IDs.
    var owner: UInt32
    var group: UInt32

    /// The file's signature, or `nil` when it cannot be stat-ed (missing, no permission).
    init?(path: String) {
        var info = stat()
        guard stat(path, &info) == 0 else { return nil }
        device = UInt64(info.st_dev)
        inode = UInt64(info.st_ino)
        size = Int64(info.st_size)
        #if canImport(Darwin)
        modifiedSeconds = Int64(info.st_mtimespec.tv_sec)
        modifiedNanoseconds = Int64(info.st_mtimespec.tv_nsec)
        #else
        modifiedSeconds = Int64(info.st_mtim.tv_sec)
        modifiedNanoseconds = Int64(info.st_mtim.tv_nsec)
        #endif
        mode = UInt32(info.st_mode) & 0o7777
        owner = UInt32(info.st_uid)
        group = UInt32(info.st_gid)
    }

    static func == (lhs: FileSignature, rhs: FileSignature) -> Bool {
        lhs.device == rhs.device && lhs.inode == rhs.inode && lhs.size == rhs.size
            && lhs.modifiedSeconds == rhs.modifiedSeconds && lhs.modifiedNanoseconds == rhs.modifiedNanoseconds
    }
}

/// Small POSIX helpers for reading and atomically replacing the users file.
enum FileSystem {
    /// A failed system call, with the path it was about.
    struct Failure: Error {
        var operation: String
        var path: String
        var code: Int32
        /// Why, when it is not the system call's error.
        var reason: String? = nil

        var message: String {
            "cannot \(operation) \(path): \(reason ?? String(cString: strerror(code)))"
        }
    }

    /// The most a file read whole may hold: a users file of thousands of users is far less.
    static let maximumFileBytes = 16 << 20

    /// The bytes of the regular file `path`, or `nil` when it does not exist. A FIFO or a
    /// device (which could block forever or never end) and a file past ``maximumFileBytes``
    /// are refused.
    static func contents(of path: String) throws(Failure) -> [UInt8]? {
        let fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK)
        guard fd >= 0 else {
            if errno == ENOENT { return nil }
            throw Failure(operation: "open", path: path, code: errno)
        }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else { throw Failure(operation: "stat", path: path, code: errno) }
        guard info.st_mode & S_IFMT == S_IFREG else {
            throw Failure(operation: "read", path: path, code: EINVAL, reason: "not a regular file (a FIFO, device or socket)")
        }
        guard Int(info.st_size) <= maximumFileBytes else {
            throw Failure(operation: "read", path: path, code: EFBIG, reason: "larger than 16 MiB")
        }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 64 * 1024)
        while true {
            let count = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if count < 0 {
                if errno == EINTR { continue }
                throw Failure(operation: "read", path: path, code: errno)
            }
            if count == 0 { return bytes }
            bytes.append(contentsOf: chunk[0..<count])
            guard bytes.count <= maximumFileBytes else {
                throw Failure(operation: "read", path: path, code: EFBIG, reason: "larger than 16 MiB")
            }
        }
    }

    /// Runs `body` holding an exclusive `flock(2)` on the directory of `path`, so that
    /// read-modify-write cycles of the files in it (two `cloakroom users add` at once) run one
    /// after the other instead of one losing the other's update. The directory is locked, not
    /// the file, because the file is replaced by rename: a lock on it would be on the old inode.
    /// Without a directory that can be opened, `body` runs unlocked (and fails on its own).
    static func withDirectoryLock<T>(of path: String, _ body: () throws -> T) throws -> T {
        let fd = open(directory(of: path), O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { return try body() }
        defer { close(fd) }  // closing releases the lock
        while flock(fd, LOCK_EX) != 0 {
            guard errno == EINTR else { throw Failure(operation: "lock the directory of", path: path, code: errno) }
        }
        return try body()
    }

    /// The file `path` names once every symbolic link is followed, the links in its directories
    /// too; for a link to a file that does not exist (yet), the path the link text leads to.
    /// `path` itself when it is no link. Replacing a file by rename must rename over this: a
    /// rename over a link replaces the link, and the file it named keeps its old contents.
    static func resolvingLinks(_ path: String) -> String {
        if let resolved = realpath(path, nil) {
            defer { free(resolved) }
            return String(cString: resolved)
        }
        var current = path
        for _ in 0..<40 {  // the kernel's own limit on links in a row (ELOOP)
            var buffer = [UInt8](repeating: 0, count: Int(PATH_MAX) + 1)
            let count = buffer.withUnsafeMutableBufferPointer { pointer in
                pointer.withMemoryRebound(to: CChar.self) { readlink(current, $0.baseAddress!, $0.count - 1) }
            }
            guard count > 0 else { return current }
            let destination = String(decoding: buffer[0..<count], as: UTF8.self)
            current = destination.hasPrefix("/") ? destination : directory(of: current) + "/" + destination
        }
        return current
    }

    /// The directory part of `path`: `.` for a bare name, `/` for a file at the root.
    private static func directory(of path: String) -> String {
        path.lastIndex(of: "/").map { String(path[..<$0]) }.map { $0.isEmpty ? "/" : $0 } ?? "."
    }

    /// Replaces `path` with `bytes` so that readers see the old file or the new one, never a
    /// mix: writes a temporary file in the same directory, flushes it to disk, renames it over
    /// `path` and flushes the directory. The temporary file is removed on failure.
    ///
    /// The new file gets `mode` and, when `owner` is given, that owner and group: as root it
    /// must (a file root rewrites for a service's user stays that user's), otherwise the group
    /// alone is tried, which the kernel allows for a group the user is in, and kept as the
    /// user's own when refused. `path` must not be a symbolic link (see ``resolvingLinks(_:)``).
    static func replaceAtomically(
        _ path: String, with bytes: [UInt8], mode: mode_t, owner: (user: UInt32, group: UInt32)? = nil
    ) throws(Failure) {
        let directory = directory(of: path)
        let base = path.lastIndex(of: "/").map { String(path[path.index(after: $0)...]) } ?? path
        let suffix = String(UInt64.random(in: .min ... .max), radix: 16)
        let temporary = (directory == "/" ? "" : directory) + "/.\(base).tmp-\(suffix)"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw Failure(operation: "create", path: temporary, code: errno) }
        var renamed = false
        defer { if !renamed { unlink(temporary) } }
        do throws(Failure) {
            if let owner {
                if geteuid() == 0 {
                    guard fchown(fd, uid_t(owner.user), gid_t(owner.group)) == 0 else { throw Failure(operation: "chown", path: temporary, code: errno) }
                } else if gid_t(owner.group) != getegid() {
                    _ = fchown(fd, uid_t.max, gid_t(owner.group))  // (uid_t)-1: the owner unchanged
                }
            }
            guard fchmod(fd, mode) == 0 else { throw Failure(operation: "chmod", path: temporary, code: errno) }
            try writeAll(fd, bytes, path: temporary)
            guard fsync(fd) == 0 else { throw Failure(operation: "sync", path: temporary, code: errno) }
        } catch {
            close(fd)
            throw error
        }
        guard close(fd) == 0 else { throw Failure(operation: "close", path: temporary, code: errno) }
        guard rename(temporary, path) == 0 else { throw Failure(operation: "rename to", path: path, code: errno) }
        renamed = true
        // Make the rename itself durable. Best effort: some file systems refuse fsync on a
        // directory, and the replacement has already happened.
        let directoryFD = open(directory, O_RDONLY | O_CLOEXEC)
        if directoryFD >= 0 {
            _ = fsync(directoryFD)
            close(directoryFD)
        }
    }

    private static func writeAll(_ fd: Int32, _ bytes: [UInt8], path: String) throws(Failure) {
        var offset = 0
        while offset < bytes.count {
            let count = bytes[offset...].withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
            if count < 0 {
                if errno == EINTR { continue }
                throw Failure(operation: "write", path: path, code: errno)
            }
            offset += count
        }
    }
}

