/// Text for the pages Cloakroom renders itself (the login page, the 403 page, the echo page,
/// the self-service page).
public enum HTMLText {
    /// Escapes `&`, `<`, `>`, `"` and `'`, which makes text safe in element content and in
    /// quoted attribute values.
    public static func escape(_ text: String) -> String {
        var result = ""
        result.reserveCapacity(text.utf8.count)
        for scalar in text.unicodeScalars {
            switch scalar {
            case "&": result += "&amp;"
            case "<": result += "&lt;"
            case ">": result += "&gt;"
            case "\"": result += "&quot;"
            case "'": result += "&#39;"
            default: result.unicodeScalars.append(scalar)
            }
        }
        return result
    }
}
