import HTTPTypes

/// The client request fields the request phases read, declared once.
///
/// An HTTP/1.1 server may carry every other field as its raw line, never made into a
/// swift-http-types value: forwarded or dropped by name (``RequestFieldFilter``) and never seen
/// by a phase. So a phase reads a request field only through ``value(_:in:)``, which refuses
/// (in debug builds, where the tests run) a name missing from ``names``: a rule that starts
/// reading another field fails its tests until the field is declared here, instead of seeing
/// it over HTTP/2 and silently nothing over HTTP/1.1. The byte-level check the HTTP/1.1 parser
/// uses, ``contains(name:)``, is derived from the same list.
///
/// `Cookie` is read too, by its own path: the server takes the session cookie out of the line's
/// bytes, or makes the `Cookie` lines fields for ``SessionCookies`` (``isCookie(name:)``).
public enum PolicyRequestFields {
    /// `Accept` (browsers get redirects and pages), `Origin` and `Sec-Fetch-Site` (the CSRF
    /// check), `Connection` (the fields it names are dropped), `traceparent` (the trace is
    /// kept, or started when absent or malformed: ``TraceContext``) and `tracestate` (dropped
    /// with a trace that is started). `X-Forwarded-For` and
    /// `X-Forwarded-Proto`: read from trusted proxies only (``ClientAddressRule``), stripped
    /// from every request before forwarding. `Access-Control-Request-Method` and
    /// `-Headers`: a CORS preflight (``CORSPolicy``). `User-Agent`: recorded with a session
    /// created by the request (``SessionOrigin``). `Authorization`: a machine client's credential on
    /// routes that accept one (``PresentedCredential``).
    public static let names: [HTTPField.Name] = [
        .accept, .origin, .secFetchSite, .connection, .traceparent, .tracestate, .xForwardedFor, .xForwardedProto,
        .accessControlRequestMethod, .accessControlRequestHeaders, .userAgent, .authorization,
    ]

    /// ``names`` in lower case by length, for the byte-level check.
    @usableFromInline
    static let byLength: [[[UInt8]]] = {
        var table = [[[UInt8]]](repeating: [], count: 33)
        for name in names { table[name.canonicalName.utf8.count].append(Array(name.canonicalName.utf8)) }
        return table
    }()

    /// Whether a field with this name (any case) is one the phases read.
    @inlinable
    public static func contains(name: UnsafeRawBufferPointer) -> Bool {
        guard name.count < byLength.count else { return false }
        for candidate in byLength[name.count] where equalsIgnoringCase(name, candidate) { return true }
        return false
    }

    @inlinable
    static func equalsIgnoringCase(_ bytes: UnsafeRawBufferPointer, _ lowercase: [UInt8]) -> Bool {
        for index in 0..<bytes.count where (bytes[index] >= 65 && bytes[index] <= 90 ? bytes[index] + 32 : bytes[index]) != lowercase[index] {
            return false
        }
        return true
    }

    /// The request's first value of a declared field.
    public static func value(_ name: HTTPField.Name, in request: HTTPRequest) -> String? {
        assert(names.contains(name), "\(name) is read by a phase: declare it in PolicyRequestFields.names")
        return request.headerFields[name]
    }

    /// Every value of a declared field, in order (a list field sent as several lines).
    public static func values(_ name: HTTPField.Name, in fields: HTTPFields) -> [String] {
        assert(names.contains(name), "\(name) is read by a phase: declare it in PolicyRequestFields.names")
        return fields[values: name]
    }

    /// `Cookie`, in any case.
    @inline(__always)
    public static func isCookie(name: UnsafeRawBufferPointer) -> Bool {
        name.count == 6 && ASCIIText.equalsIgnoringCase(name, "cookie")
    }
}
