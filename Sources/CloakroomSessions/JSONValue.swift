/// A JSON value, as held in session attributes and control headers.
public enum JSONValue: Sendable, Hashable {
    case null
    case bool(Bool)
    case number(Double)
    case string(String)
    case array([JSONValue])
    case object(JSONObject)
}

/// A JSON object. Key order is not significant.
public typealias JSONObject = [String: JSONValue]
