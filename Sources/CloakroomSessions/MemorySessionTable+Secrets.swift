import struct Foundation.Date

/// The private part of a record and the index from identity-provider sessions to records, for
/// ``ProviderSessionStore`` (memory and file stores). Most sessions have neither: an empty array
/// costs no allocation, and `keysByLink` holds only sessions created through a provider.
extension MemorySessionTable {
    /// Gives the session under `key` its private part and links (right after ``insert``).
    package mutating func attach(secrets: [UInt8], links: [String], key: SessionKey) {
        guard let slot = slotByKey[key] else { return }
        let i = Int(slot)
        if !records[i].links.isEmpty { unlinkFromProviders(i) }
        records[i].secrets = secrets
        records[i].links = links
        for link in links { keysByLink[link, default: []].insert(key) }
    }

    /// The private part of the live session under `key` (empty when it has none); `nil` when
    /// there is no live session. Not activity: no touch.
    package mutating func secrets(key: SessionKey, now: Date) -> [UInt8]? {
        guard read(key: key, now: now) != nil else { return nil }
        return slotByKey[key].map { records[Int($0)].secrets }
    }

    /// The private part and links of the record under `key` as it is (durable stores mirror it).
    package func peekSecrets(key: SessionKey) -> (secrets: [UInt8], links: [String])? {
        slotByKey[key].map { (records[Int($0)].secrets, records[Int($0)].links) }
    }

    /// Replaces the private part of the live session under `key`. Returns whether there was one.
    package mutating func replaceSecrets(key: SessionKey, with secrets: [UInt8], now: Date) -> Bool {
        guard read(key: key, now: now) != nil, let slot = slotByKey[key] else { return false }
        records[Int(slot)].secrets = secrets
        return true
    }

    /// The keys of the sessions created from the provider session `link` (live or not yet swept).
    package func keys(link: String) -> [SessionKey] {
        keysByLink[link].map(Array.init) ?? []
    }

    mutating func unlinkFromProviders(_ i: Int) {
        let key = records[i].key
        for link in records[i].links {
            guard var keys = keysByLink[link] else { continue }
            keys.remove(key)
            keysByLink[link] = keys.isEmpty ? nil : keys
        }
        records[i].links = []
    }
}
