/// A stored session whose record cannot be read: its attributes are not a JSON object with a
/// non-empty string `sub` (the one ``Session`` invariant a store must be able to rely on), or
/// its fields are malformed. A file edited by hand, a Redis key written by another program or
/// a partial restore can leave one behind.
///
/// Stores never let it out of a lookup. The SPEC treats a damaged record as no session: the
/// store deletes it, logs it (by handle, never the ID), counts it as ended (`damaged`) and
/// answers `nil`, so the request goes on as one without a cookie. A required route then
/// answers 401 with the deletion cookie, and login and logout still work. Only a store that
/// cannot be reached is an error (503): one unreadable record must not lock its user out.
package struct DamagedSessionRecord: Error, Sendable, Equatable, CustomStringConvertible {
    /// What is wrong, in words of our own: never the record's content, which may hold
    /// personal data.
    package var why: String

    package init(_ why: String) {
        self.why = why
    }

    package var description: String { "damaged session record: \(why)" }

    /// Stored attributes as a session's: a JSON object whose `sub` is a non-empty string,
    /// equal to `subject` when the store keeps the subject beside them.
    package static func attributes(utf8 bytes: UnsafeBufferPointer<UInt8>, subject: String? = nil) throws -> JSONObject {
        guard let value = try? JSONValue(parsingUTF8: bytes) else { throw DamagedSessionRecord("the attributes are not JSON") }
        guard case .object(let object) = value else { throw DamagedSessionRecord("the attributes are not a JSON object") }
        guard case .string(let sub)? = object["sub"], !sub.isEmpty else {
            throw DamagedSessionRecord("the attributes have no string \"sub\"")
        }
        if let subject, sub != subject { throw DamagedSessionRecord("the attributes' \"sub\" differs from the record's subject") }
        return object
    }

    /// ``attributes(utf8:subject:)`` for attributes held as text.
    package static func attributes(text: String, subject: String? = nil) throws -> JSONObject {
        var text = text
        return try text.withUTF8 { try attributes(utf8: $0, subject: subject) }
    }
}
