/// Why the file store could not open (or keep using) its file. Every message names the file,
/// so an operator reading the start-up error knows which path to look at.
///
/// The store never deletes or recreates an existing file to get past one of these: a damaged
/// or newer file is left exactly as it was found.
public enum FileStoreError: Error, CustomStringConvertible, Equatable, Sendable {
    /// Another cloakroom (this process or another) has the file open.
    case locked(String)
    /// The file is not a SQLite database, is damaged, or is some other program's database.
    case corrupt(String, String)
    /// The file's schema version is newer than this build understands.
    case unsupportedSchema(String, Int)
    /// The file or its directory could not be read, written or created.
    case io(String, String)

    public var description: String {
        switch self {
        case .locked(let path):
            return "session file \(path) is in use: another cloakroom holds its lock (\(path).lock)"
        case .corrupt(let path, let why):
            return "session file \(path) is damaged or not a cloakroom session store (\(why)); it was left untouched"
        case .unsupportedSchema(let path, let version):
            return "session file \(path) has schema version \(version), but this cloakroom understands versions up to "
                + "\(SessionSchema.latestVersion); it was left untouched (run a newer cloakroom or use another file)"
        case .io(let path, let why):
            return "session file \(path): \(why)"
        }
    }
}
