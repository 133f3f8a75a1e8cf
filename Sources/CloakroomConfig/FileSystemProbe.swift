import Foundation

/// What the loader asks the file system about the paths a configuration names: TLS files, the
/// users file, the file store's directory.
///
/// Asking while loading puts what `serve` would trip on (a missing users file, a store
/// directory that does not exist or cannot be written) in the same pass as every other
/// problem, each with its key path, instead of failing at start after `check` said the file was
/// valid. Tests pass a fake: root reads and writes everything, so an unwritable directory
/// cannot be made for real when the tests run as root.
public protocol FileSystemProbe: Sendable {
    /// What is at `path` (symbolic links followed), or `nil` when nothing is.
    func entry(at path: String) -> FileSystemEntry?
    /// Up to `count` bytes from the start of the file at `path`, or `nil` when they cannot be
    /// read (or the probe does not say).
    func leadingBytes(of path: String, count: Int) -> [UInt8]?
}

extension FileSystemProbe {
    public func leadingBytes(of path: String, count: Int) -> [UInt8]? { nil }
}

/// One file or directory as the running user sees it.
public struct FileSystemEntry: Sendable, Equatable {
    public var isDirectory: Bool
    /// Whether this process may open it for reading (for a directory: list it).
    public var isReadable: Bool
    /// Whether this process may open it for writing (for a directory: create files in it).
    public var isWritable: Bool
    /// Neither a regular file nor a directory: a FIFO, a device, a socket. Reading one can
    /// block forever (a FIFO nobody writes) or never end (`/dev/zero`).
    public var isSpecial: Bool

    public init(isDirectory: Bool, isReadable: Bool = true, isWritable: Bool = true, isSpecial: Bool = false) {
        self.isDirectory = isDirectory
        self.isReadable = isReadable
        self.isWritable = isWritable
        self.isSpecial = isSpecial
    }
}

/// The real file system, seen with this process's permissions (`access(2)`). Relative paths
/// are relative to the working directory, as they are for `serve`.
public struct LocalFileSystem: FileSystemProbe {
    /// A file this process holds open with SQLite (the running file store's database), whose
    /// contents are never read here.
    private let openDatabase: String?

    public init() { self.openDatabase = nil }

    /// For a process serving the file store at `openDatabase`: never opens that file, by any
    /// name. Closing any descriptor of a file drops every POSIX (`fcntl`) lock the process holds
    /// on it, SQLite's included (found by an audit: a reload's check of the database's first
    /// bytes dropped them, another process's connection then took the write-ahead log for
    /// unused and removed it, and every later commit went to the removed file).
    public init(openDatabase: String?) { self.openDatabase = openDatabase }

    public func entry(at path: String) -> FileSystemEntry? {
        var info = stat()
        guard stat(path, &info) == 0 else { return nil }
        let kind = info.st_mode & S_IFMT
        return FileSystemEntry(
            isDirectory: kind == S_IFDIR,
            isReadable: FileManager.default.isReadableFile(atPath: path),
            isWritable: FileManager.default.isWritableFile(atPath: path),
            isSpecial: kind != S_IFDIR && kind != S_IFREG)
    }

    public func leadingBytes(of path: String, count: Int) -> [UInt8]? {
        if let openDatabase, Self.sameFile(path, openDatabase) { return nil }
        guard let handle = FileHandle(forReadingAtPath: path) else { return nil }
        defer { try? handle.close() }
        return (try? handle.read(upToCount: count)).map { Array($0) }
    }

    /// Whether both paths name one file (device and inode), or, when either does not exist,
    /// are the same text.
    static func sameFile(_ first: String, _ second: String) -> Bool {
        var one = stat(), other = stat()
        guard stat(first, &one) == 0, stat(second, &other) == 0 else { return first == second }
        return one.st_dev == other.st_dev && one.st_ino == other.st_ino
    }
}

/// The file-system rules, as problems for the key that names the path. `nil` means fine, or
/// that there is no file system to ask.
enum PathRules {
    /// A file `serve` reads: it exists, is not a directory, and is readable.
    static func readableFile(_ path: String, in files: (any FileSystemProbe)?) -> String? {
        guard let files else { return nil }
        guard let entry = files.entry(at: path) else { return "file \(quoted(path)) does not exist" }
        guard !entry.isDirectory else { return "\(quoted(path)) is a directory, not a file" }
        guard !entry.isSpecial else { return "\(quoted(path)) is not a regular file (a FIFO, device or socket)" }
        guard entry.isReadable else {
            return "file \(quoted(path)) is not readable by this user (check its owner and mode)"
        }
        return nil
    }

    /// The file store's database: `serve` creates it, its `.lock` file and SQLite's `-wal` and
    /// `-shm` files in its directory, so the directory must exist and be writable, and
    /// whatever of those already exists must be a readable and writable file.
    static func storeFile(_ path: String, in files: (any FileSystemProbe)?) -> String? {
        guard let files else { return nil }
        let directory = directoryPart(of: path)
        guard let folder = files.entry(at: directory) else {
            return "directory \(quoted(directory)) does not exist: create it first "
                + "(serve creates the database file in it, not the directory)"
        }
        guard folder.isDirectory else { return "\(quoted(directory)) is not a directory" }
        guard folder.isWritable else {
            return "directory \(quoted(directory)) is not writable by this user: serve creates the "
                + "database, its lock file and SQLite's journal files there"
        }
        for existing in [path, path + ".lock"] {
            guard let entry = files.entry(at: existing) else { continue }
            guard !entry.isDirectory else { return "\(quoted(existing)) is a directory, not a file" }
            guard !entry.isSpecial else { return "\(quoted(existing)) is not a regular file (a FIFO, device or socket)" }
            guard entry.isReadable, entry.isWritable else {
                return "file \(quoted(existing)) is not readable and writable by this user (check its owner and mode)"
            }
        }
        // An existing database must be one: serve refuses any other file rather than overwrite
        // it. An empty file is what SQLite makes of a new database.
        if let bytes = files.leadingBytes(of: path, count: sqliteHeader.count), !bytes.isEmpty, bytes != sqliteHeader {
            return "file \(quoted(path)) exists and is not an SQLite database (serve would refuse it): "
                + "name another path, or move that file away"
        }
        return nil
    }

    /// The first 16 bytes of every SQLite 3 database file.
    static let sqliteHeader = Array("SQLite format 3\0".utf8)

    /// A path in double quotes, in full (a path cut short names no file), escaped as
    /// ``HTTPSyntax/escaped(_:)`` does.
    static func quoted(_ path: String) -> String {
        "\"" + HTTPSyntax.escaped(path) + "\""
    }

    /// `a/b/c.db` → `a/b`, `c.db` → `.`, `/c.db` → `/`.
    static func directoryPart(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "." }
        let directory = String(path[..<slash])
        return directory.isEmpty ? "/" : directory
    }
}
