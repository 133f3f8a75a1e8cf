/// Where a Redis server is and how to log in: a parsed `redis://` or `rediss://` URL.
///
///     redis://[[user]:password@]host[:port][/db]
///     rediss://...                      TLS, verified against the system's trust roots
///
/// `host` may be a name, an IPv4 address or a bracketed IPv6 address (`[::1]`). `port`
/// defaults to 6379, `db` to 0. User and password are percent-decoded; a password without a
/// user logs in as Redis's `default` user. Query strings and fragments are rejected rather
/// than silently ignored.
public struct RedisURL: Sendable, Hashable {
    public var host: String
    public var port: Int
    public var database: Int
    public var user: String?
    public var password: String?
    public var usesTLS: Bool

    public init(host: String, port: Int = 6379, database: Int = 0, user: String? = nil, password: String? = nil, usesTLS: Bool = false) {
        self.host = host
        self.port = port
        self.database = database
        self.user = user
        self.password = password
        self.usesTLS = usesTLS
    }

    /// Parses `text`, throwing a ``RedisURLError`` that never repeats the password.
    public init(parsing text: String) throws {
        var rest = Substring(text)
        if rest.lowercased().hasPrefix("redis://") {
            usesTLS = false
            rest = rest.dropFirst("redis://".count)
        } else if rest.lowercased().hasPrefix("rediss://") {
            usesTLS = true
            rest = rest.dropFirst("rediss://".count)
        } else {
            throw RedisURLError("expected a redis:// or rediss:// URL")
        }
        guard !rest.contains("?"), !rest.contains("#") else {
            throw RedisURLError("query strings and fragments are not supported")
        }

        // Credentials end at the last "@" (a password may contain one when percent-encoding
        // was forgotten; the host never does).
        user = nil
        password = nil
        if let at = rest.lastIndex(of: "@") {
            let credentials = rest[..<at]
            rest = rest[rest.index(after: at)...]
            if let colon = credentials.firstIndex(of: ":") {
                let name = try Self.percentDecoded(credentials[..<colon], what: "user")
                user = name.isEmpty ? nil : name
                password = try Self.percentDecoded(credentials[credentials.index(after: colon)...], what: "password")
            } else {
                throw RedisURLError("credentials must be user:password or :password")
            }
        }

        let authority: Substring
        if let slash = rest.firstIndex(of: "/") {
            authority = rest[..<slash]
            let path = rest[rest.index(after: slash)...]
            if path.isEmpty {
                database = 0
            } else {
                guard path.allSatisfy(\.isASCIIDigit), path.count <= 6, let number = Int(path) else {
                    throw RedisURLError("the database must be a number, as in redis://host:6379/0")
                }
                database = number
            }
        } else {
            authority = rest
            database = 0
        }

        let portText: Substring?
        if authority.hasPrefix("[") {
            guard let close = authority.firstIndex(of: "]") else { throw RedisURLError("unterminated IPv6 address") }
            host = String(authority[authority.index(after: authority.startIndex)..<close])
            let after = authority[authority.index(after: close)...]
            if after.isEmpty {
                portText = nil
            } else {
                guard after.hasPrefix(":") else { throw RedisURLError("unexpected text after the IPv6 address") }
                portText = after.dropFirst()
            }
        } else if let colon = authority.lastIndex(of: ":") {
            host = String(authority[..<colon])
            portText = authority[authority.index(after: colon)...]
        } else {
            host = String(authority)
            portText = nil
        }
        guard !host.isEmpty, !host.contains(where: { $0 == ":" && !authority.hasPrefix("[") }) else {
            throw RedisURLError("the URL has no host")
        }
        if let portText {
            guard portText.allSatisfy(\.isASCIIDigit), portText.count <= 5, let number = Int(portText), (1...65535).contains(number) else {
                throw RedisURLError("the port must be a number from 1 to 65535")
            }
            port = number
        } else {
            port = 6379
        }
    }

    private static func percentDecoded(_ text: Substring, what: String) throws -> String {
        var bytes: [UInt8] = []
        var iterator = text.utf8.makeIterator()
        while let byte = iterator.next() {
            guard byte == UInt8(ascii: "%") else {
                bytes.append(byte)
                continue
            }
            guard let high = iterator.next().flatMap(hexValue), let low = iterator.next().flatMap(hexValue) else {
                throw RedisURLError("invalid percent-encoding in the \(what)")
            }
            bytes.append(high << 4 | low)
        }
        guard let decoded = String(validating: bytes, as: UTF8.self) else {
            throw RedisURLError("the \(what) is not UTF-8 once percent-decoded")
        }
        return decoded
    }
}

private func hexValue(_ byte: UInt8) -> UInt8? {
    switch byte {
    case UInt8(ascii: "0")...UInt8(ascii: "9"): return byte - UInt8(ascii: "0")
    case UInt8(ascii: "a")...UInt8(ascii: "f"): return byte - UInt8(ascii: "a") + 10
    case UInt8(ascii: "A")...UInt8(ascii: "F"): return byte - UInt8(ascii: "A") + 10
    default: return nil
    }
}

extension Character {
    fileprivate var isASCIIDigit: Bool { isASCII && isNumber }
}

extension RedisURL: CustomStringConvertible {
    /// The URL without its password, for logs and error messages.
    public var description: String {
        let scheme = usesTLS ? "rediss" : "redis"
        let credentials = user.map { "\($0):***@" } ?? (password != nil ? ":***@" : "")
        let hostPart = host.contains(":") ? "[\(host)]" : host
        return "\(scheme)://\(credentials)\(hostPart):\(port)/\(database)"
    }
}

/// Why a Redis URL was rejected. The message never includes the URL (it may hold a password).
public struct RedisURLError: Error, Sendable, Hashable, CustomStringConvertible {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { "invalid Redis URL: \(message)" }
}
