import CloakroomConfig
import HTTPTypes

/// `routes[].cors` compiled (SPEC "CORS"): which origins may call the route from a browser,
/// the preflight answer, and the fields every response to an allowed origin carries.
///
/// Everything a response needs is rendered at load (the method and header lists, `Max-Age` in
/// seconds); per request it is one set lookup of the `Origin` and a few fields appended.
public final class CORSPolicy: Sendable {
    /// Lower-cased origins; empty with `anyOrigin`.
    let origins: Set<String>
    let anyOrigin: Bool
    let methods: Set<String>
    /// Lower-cased.
    let headers: Set<String>
    let allowMethods: String
    let allowHeaders: String
    let maxAge: String
    public let allowCredentials: Bool

    public init(_ settings: CORSSettings) {
        anyOrigin = settings.anyOrigin
        origins = anyOrigin ? [] : Set(settings.origins.map { $0.lowercased() })
        methods = Set(settings.methods)
        headers = Set(settings.headers.map { $0.lowercased() })
        allowMethods = settings.methods.joined(separator: ", ")
        allowHeaders = settings.headers.joined(separator: ", ")
        maxAge = String(settings.maxAge.components.seconds)
        allowCredentials = settings.allowCredentials
    }

    /// Whether browser code from `origin` (as the `Origin` field sends it) may call the route.
    public func allows(origin: String) -> Bool {
        anyOrigin || origins.contains(origin.lowercased())
    }

    /// Whether `origin` counts as a trusted origin for the CSRF rule on this route: listed,
    /// with `allow_credentials` (a wildcard never is).
    func trustsForCSRF(origin: String) -> Bool {
        allowCredentials && !anyOrigin && origins.contains(origin.lowercased())
    }

    /// The proxy's answer to a preflight: 204 with the allowed lists, or 403 without any
    /// `Access-Control-*` field when the origin, the method or one of the headers is not
    /// allowed. Never forwarded. Both carry the `Vary` a cache needs to keep them apart.
    func preflight(origin: String?, method: String?, requestHeaders: [String], requestID: String) -> LocalResponse {
        guard let origin, allows(origin: origin), let method, methods.contains(method) else {
            return Self.refusedPreflight("CORS preflight refused", requestID: requestID)
        }
        for list in requestHeaders {
            for name in list.split(separator: ",") {
                let trimmed = ASCIIText.trimmedLowercased(name.utf8)
                guard trimmed.isEmpty || headers.contains(trimmed) else {
                    return Self.refusedPreflight("CORS preflight asks for a header not allowed", requestID: requestID)
                }
            }
        }
        var response = LocalResponse.empty(status: .noContent, requestID: requestID)
        var fields = response.head.headerFields
        fields.append(HTTPField(name: .accessControlAllowOrigin, value: origin))
        if allowCredentials { fields.append(HTTPField(name: .accessControlAllowCredentials, value: "true")) }
        fields.append(HTTPField(name: .accessControlAllowMethods, value: allowMethods))
        // Always present (SPEC lists it), empty when the route allows no request headers beyond
        // the CORS-safelisted ones: an empty list is a valid value (Fetch, `#field-name`).
        fields.append(HTTPField(name: .accessControlAllowHeaders, value: allowHeaders))
        fields.append(HTTPField(name: .accessControlMaxAge, value: maxAge))
        fields.append(HTTPField(name: .vary, value: Self.preflightVary))
        response.head.headerFields = fields
        return response
    }

    private static let preflightVary = "Origin, Access-Control-Request-Method, Access-Control-Request-Headers"

    private static func refusedPreflight(_ detail: String, requestID: String) -> LocalResponse {
        var response = ProxyError(.forbidden, detail).response(requestID: requestID)
        response.head.headerFields.append(HTTPField(name: .vary, value: preflightVary))
        return response
    }

    /// Replaces whatever CORS fields `fields` hold (the upstream's) with the route's for
    /// `origin` (already allowed), and makes sure caches key on `Origin`.
    func apply(to fields: inout HTTPFields, origin: String) {
        Self.removeCORSFields(from: &fields)
        fields.append(HTTPField(name: .accessControlAllowOrigin, value: origin))
        if allowCredentials { fields.append(HTTPField(name: .accessControlAllowCredentials, value: "true")) }
        Self.addVaryOrigin(to: &fields)
    }

    /// An upstream response on this route: its CORS fields replaced by the route's for an
    /// allowed `origin`, or removed (the route's rules are the only ones). Either way it varies
    /// with `Origin`, so a shared cache never serves one origin's answer to another.
    public func replaceUpstreamFields(in fields: inout HTTPFields, origin: String?) {
        if let origin {
            apply(to: &fields, origin: origin)
        } else {
            Self.removeCORSFields(from: &fields)
            Self.addVaryOrigin(to: &fields)
        }
    }

    /// Every `Access-Control-*` response field.
    static func removeCORSFields(from fields: inout HTTPFields) {
        guard fields.contains(where: isCORSField) else { return }
        fields.removeAll(where: isCORSField)
    }

    static func isCORSField(_ field: HTTPField) -> Bool {
        field.name.canonicalName.hasPrefix("access-control-")
    }

    /// `Vary: Origin`, unless a `Vary` already names it (or `*`).
    static func addVaryOrigin(to fields: inout HTTPFields) {
        for value in fields[values: .vary] {
            for part in value.split(separator: ",") {
                let name = ASCIIText.trimmedLowercased(part.utf8)
                if name == "origin" || name == "*" { return }
            }
        }
        fields.append(HTTPField(name: .vary, value: "Origin"))
    }
}
