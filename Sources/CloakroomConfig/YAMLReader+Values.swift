/// Typed readers for the kinds of values `proxy.yaml` holds. Each returns `nil` after reporting
/// a problem at the value's path, so decoders can keep their default and carry on.
extension YAMLReader {
    /// A string; empty strings are refused unless `allowEmpty`.
    func string(_ value: YAMLValue, allowEmpty: Bool = false) -> String? {
        guard let text = scalarText(value, expecting: "a string") else { return nil }
        if text.isEmpty && !allowEmpty {
            report("must not be empty", at: value.path)
            return nil
        }
        return text
    }

    /// `nil` for a YAML null, otherwise read with `read`. The outer optional is `nil` when the
    /// value was wrong.
    func nullable<T>(_ value: YAMLValue, _ read: (YAMLValue) -> T?) -> T?? {
        if value.isNull { return .some(nil) }
        guard let result = read(value) else { return nil }
        return .some(result)
    }

    func integer(_ value: YAMLValue, atLeast minimum: Int, atMost maximum: Int = .max) -> Int? {
        guard let text = scalarText(value, expecting: "an integer") else { return nil }
        // YAML allows `_` between digits (`1_000_000`).
        let digits = text.hasPrefix("_") || text.hasSuffix("_") ? text : text.filter { $0 != "_" }
        guard let number = Int(digits) else {
            report("expected an integer, got \(HTTPSyntax.quoted(text))", at: value.path)
            return nil
        }
        guard number >= minimum else {
            report("must be at least \(minimum), got \(number)", at: value.path)
            return nil
        }
        guard number <= maximum else {
            report("must be at most \(maximum), got \(number)", at: value.path)
            return nil
        }
        return number
    }

    /// The longest duration any key takes: 3650 days (ten years).
    ///
    /// Durations become NIO `TimeAmount`s (signed 64-bit nanoseconds, about 292 years) added to
    /// the current uptime for timers, `Date`s for session expiry, and seconds for cookies,
    /// Redis TTLs and tokens. Without a bound, `header_timeout: 1000000000d` passed the loader
    /// and trapped (arithmetic overflow) on the first connection, or after a reload. Ten years
    /// is beyond any useful timeout or lifetime, and thirty times below the smallest of those
    /// limits, so every use of a value that passes stays exact.
    static let maximumDuration = Duration.seconds(3650 * 86_400)

    /// A duration greater than zero (`250ms`, `30s`, `15m`, `12h`, `7d`, `1h30m`), at most
    /// ``maximumDuration``.
    func duration(_ value: YAMLValue) -> Duration? {
        let expectation = "a duration like 30s"
        guard let text = scalarText(value, expecting: expectation) else { return nil }
        guard let duration = Duration(configString: text) else {
            let hint = !text.isEmpty && text.allSatisfy(\.isNumber) ? " (add a unit: ms, s, m, h or d)" : ""
            report("expected \(expectation), got \(HTTPSyntax.quoted(text))\(hint)", at: value.path)
            return nil
        }
        guard duration > .zero else {
            report("must be greater than 0", at: value.path)
            return nil
        }
        guard duration <= Self.maximumDuration else {
            report("must be at most 3650d (ten years; longer overflows the proxy's timers), got \(HTTPSyntax.quoted(text))", at: value.path)
            return nil
        }
        return duration
    }

    /// A byte size (`512`, `16KiB`, `10MiB`) of at least `minimum` bytes and at most `maximum`.
    func size(_ value: YAMLValue, atLeast minimum: Int, atMost maximum: Int = .max) -> Int? {
        let expectation = "a size like 10MiB"
        guard let text = scalarText(value, expecting: expectation) else { return nil }
        guard let bytes = ByteSize.parse(text) else {
            report("expected \(expectation), got \(HTTPSyntax.quoted(text))", at: value.path)
            return nil
        }
        guard bytes >= minimum else {
            let message =
                minimum <= 1 ? "must be greater than 0" : "must be at least \(ByteSize.describe(minimum)), got \(text)"
            report(message, at: value.path)
            return nil
        }
        guard bytes <= maximum else {
            report("must be at most \(ByteSize.describe(maximum)), got \(HTTPSyntax.quoted(text))", at: value.path)
            return nil
        }
        return bytes
    }

    /// One of `choices`, spelled exactly as its raw value.
    func choice<T: RawRepresentable>(_ value: YAMLValue, among choices: [T]) -> T? where T.RawValue == String {
        let names = choices.map(\.rawValue)
        let expectation = "one of \(names.joined(separator: ", "))"
        guard let text = scalarText(value, expecting: expectation) else { return nil }
        guard let result = choices.first(where: { $0.rawValue == text }) else {
            report("expected \(expectation), got \(HTTPSyntax.quoted(text))", at: value.path)
            return nil
        }
        return result
    }

    /// `host:port` or `[ipv6]:port`, port 0–65535.
    func address(_ value: YAMLValue) -> SocketAddressSpec? {
        guard let text = scalarText(value, expecting: "host:port like 127.0.0.1:8080") else { return nil }
        return check(SocketAddressSpec.parse(text), at: value.path)
    }

    /// A URL path starting `/` (see ``HTTPSyntax/checkPath(_:)``).
    func urlPath(_ value: YAMLValue) -> String? {
        guard let text = scalarText(value, expecting: "a path starting \"/\"") else { return nil }
        return check(HTTPSyntax.checkPath(text).map(Result.failure) ?? .success(text), at: value.path)
    }

    /// A path starting `/` or an absolute http(s) URL.
    func redirectTarget(_ value: YAMLValue) -> String? {
        guard let text = scalarText(value, expecting: "a path starting \"/\" or an absolute http(s) URL") else {
            return nil
        }
        return check(HTTPSyntax.checkRedirectTarget(text).map(Result.failure) ?? .success(text), at: value.path)
    }

    /// A secret of at least `minimumBytes` UTF-8 bytes. The value never appears in messages.
    func secret(_ value: YAMLValue, minimumBytes: Int) -> String? {
        guard let text = scalarText(value, expecting: "a string") else { return nil }
        guard text.utf8.count >= minimumBytes else {
            report("must be at least \(minimumBytes) bytes, got \(text.utf8.count)", at: value.path)
            return nil
        }
        return text
    }

    func check<T>(_ result: Result<T, ValueProblem>, at path: ConfigPath) -> T? {
        switch result {
        case .success(let value):
            return value
        case .failure(let problem):
            report(problem.message, at: path)
            return nil
        }
    }
}
