import CloakroomSessions
import HTTPTypes

/// The assertions last made on one connection (or the streams of one HTTP/2 connection: one
/// event loop), one per upstream, for one session at a time: a keep-alive connection nearly
/// always carries one user's requests, so nearly every request reuses a token instead of
/// signing one.
///
/// Entries belong to one ``IdentityAssertion`` (one configuration: a reload that changes the
/// keys is a new one), one session handle and one attributes value; a request for anything
/// else empties the memo first. So a token is never shared between sessions or upstreams, and
/// never outlives a change of the session's attributes (`Session-Update`): the stores hand
/// back the same dictionary while the stored attributes are unchanged, which compares equal at
/// once, and a changed one compares unequal.
///
/// - Important: Not thread-safe: one per connection, used on its event loop.
public final class AssertionMemo {
    struct Entry {
        let upstream: String
        /// The identity fields with the assertion after them, as fields and as HTTP/1.1 lines.
        let fields: [HTTPField]
        let lines: [UInt8]
        /// The token's `exp`, seconds since 1970.
        let expiresAt: Double
    }

    /// Upstreams remembered per session: a page calling a few APIs keeps each one's token.
    static let capacity = 4

    /// Held, not just identified: a later configuration can never be taken for this one.
    private var owner: IdentityAssertion?
    private var handle = ""
    private var attributes: JSONObject = [:]
    private var ttl: Double = 0
    private var entries: [Entry] = []

    public init() {}

    /// The entry for `upstream` when the memo belongs to this session and configuration and
    /// more than half of the token's lifetime remains at `now`.
    func entry(for assertion: IdentityAssertion, session: Session, upstream: String, now: Double) -> Entry? {
        guard owner === assertion, handle == session.handle, attributes == session.attributes else { return nil }
        for entry in entries where entry.upstream == upstream {
            return entry.expiresAt - now > ttl / 2 ? entry : nil
        }
        return nil
    }

    /// Keeps `entry`, replacing the one for its upstream; another session or configuration
    /// empties the memo first.
    func store(_ entry: Entry, for assertion: IdentityAssertion, session: Session, ttl: Double) {
        if owner !== assertion || handle != session.handle || attributes != session.attributes {
            (owner, handle, attributes, self.ttl) = (assertion, session.handle, session.attributes, ttl)
            entries.removeAll(keepingCapacity: true)
        }
        entries.removeAll { $0.upstream == entry.upstream }
        if entries.count == Self.capacity { entries.removeFirst() }
        entries.append(entry)
    }

    /// Whether an entry for `upstream` is held (tests).
    func holds(upstream: String) -> Bool { entries.contains { $0.upstream == upstream } }
}
