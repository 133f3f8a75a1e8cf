/// Rules every store built on a ``MemorySessionTable`` applies the same way, kept here so the
/// memory and file stores cannot drift apart.
extension MemorySessionTable {
    /// The subject of new session attributes, which must be a non-empty string that can be
    /// sent as a header value: a `sub` with CR, LF or another control character could never
    /// reach a backend as `X-User-Id`, and its session would be forwarded with no user at all.
    package static func subject(of attributes: JSONObject) throws -> String {
        guard let subject = JSONValue.subject(in: attributes) else { throw SessionStoreError.missingSubject }
        return subject
    }

    /// Attributes as the compact JSON text the table keeps (and the file store writes).
    package static func encode(_ attributes: JSONObject) -> [UInt8] {
        JSONValue.object(attributes).jsonUTF8
    }

    /// The members of a merge patch, which must be an object.
    package static func patchMembers(_ patch: JSONValue) throws -> JSONObject {
        guard case .object(let members) = patch else {
            throw SessionStoreError.invalidPatch("a session patch must be a JSON object")
        }
        return members
    }

    /// `current`'s attributes with `patch` merged in, parsed and encoded. Throws
    /// ``SessionStoreError/invalidPatch(_:)`` when the patch would change or remove `sub`.
    package static func merge(
        _ patch: JSONValue, members: JSONObject, into current: Snapshot
    ) throws -> (attributes: JSONObject, encoded: [UInt8]) {
        if let newSubject = members["sub"] {
            guard newSubject == .string(current.subject) else {
                throw SessionStoreError.invalidPatch("\"sub\" cannot be changed or removed")
            }
        }
        let merged = JSONValue.object(try current.attributeObject()).applyingMergePatch(patch)
        guard case .object(let mergedAttributes) = merged else {
            preconditionFailure("an object merge patch always yields an object")
        }
        return (mergedAttributes, merged.jsonUTF8)
    }

    /// Snapshots as sessions, oldest first. A user's list is already in creation order; the
    /// stable sort keeps it for equal instants. A damaged record (``DamagedSessionRecord``) is
    /// left out, as a lookup would find no session there; the next lookup of it deletes it.
    package static func sessionsOldestFirst(_ snapshots: [Snapshot], timeouts: SessionTimeouts) throws -> [Session] {
        var snapshots = snapshots
        snapshots.sort { $0.createdAt < $1.createdAt }
        return try snapshots.compactMap { snapshot in
            do {
                return try snapshot.session(timeouts: timeouts)
            } catch is DamagedSessionRecord {
                return nil
            }
        }
    }
}
