/// What `cloakroom version` reports.
///
/// `commit` stays "unknown" in the repository, so a development build says so. `scripts/release`
/// builds from a copy of the tree in which it rewrites that one line, so the working tree is never
/// touched; the container build does the same with its `CLOAKROOM_COMMIT` build argument.
enum CloakroomVersion {
    static let current = "0.1.0"
    static let commit = "unknown"

    /// The one line `cloakroom version` prints, e.g. `cloakroom 0.1.0 (commit 1a2b3c4d5e6f)`.
    static var line: String { "cloakroom \(current) (commit \(commit))" }
}
