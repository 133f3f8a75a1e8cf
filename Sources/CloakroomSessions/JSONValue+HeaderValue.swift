extension JSONValue {
    /// The value to send in an identity header for this attribute, or `nil` to send none.
    ///
    /// - string: as is;
    /// - number: its JSON text (`42`, `1.5`);
    /// - bool: `true` / `false`;
    /// - array: the elements' header values joined with `", "`, null elements skipped
    ///   (`["admin","dev"]` → `admin, dev`; `[]` → empty value);
    /// - object: its compact ``jsonText``;
    /// - null: `nil`.
    ///
    /// A header value must never split or end a header line, so a string holding a character
    /// that RFC 9110 does not allow in a field value — CR, LF, NUL, any other control character
    /// but HTAB, or DEL — yields `nil`, and so does an array with such a string anywhere in it
    /// (the header is left out rather than sent with part of its value). Objects are safe: their
    /// JSON text escapes those characters.
    public var headerValue: String? {
        switch self {
        case .null:
            return nil
        case .bool(let value):
            return value ? "true" : "false"
        case .number(let value):
            return Self.numberText(value)
        case .string(let value):
            return Self.isSafeFieldValue(value) ? value : nil
        case .object:
            return jsonText
        case .array(let elements):
            // Appended as they come: a short list stays a small (inline) string.
            var joined = ""
            var first = true
            for element in elements {
                if case .null = element { continue }
                guard let part = element.headerValue else { return nil }
                if !first { joined += ", " }
                joined += part
                first = false
            }
            return joined
        }
    }

    /// Whether `value` contains only bytes allowed in an HTTP field value: visible ASCII, SP,
    /// HTAB and non-ASCII (obs-text).
    static func isSafeFieldValue(_ value: String) -> Bool {
        value.utf8.allSatisfy { byte in
            byte == 0x09 || (byte >= 0x20 && byte != 0x7F)
        }
    }
}

extension JSONValue {
    /// The `sub` of session attributes when it is one a session can have: a non-empty string
    /// that can be sent as a header value. A `sub` with CR, LF or another control character
    /// could never reach a backend as `X-User-Id`, so whatever signs a request in (a session,
    /// an API key, a provider's token) is refused rather than forwarded with no user.
    public static func subject(in attributes: JSONObject) -> String? {
        guard case .string(let subject)? = attributes["sub"], !subject.isEmpty, isSafeFieldValue(subject) else { return nil }
        return subject
    }
}
