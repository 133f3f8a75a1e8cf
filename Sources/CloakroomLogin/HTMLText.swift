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

    /// A whole page: the document frame every page shares (language, viewport, kept out of
    /// search engines, its own inline style) around `main`, the page's content.
    public static func document(title: String, style: String, main: String) -> String {
        """
        <!DOCTYPE html>
        <html lang="en">
        <head>
        <meta charset="utf-8">
        <meta name="viewport" content="width=device-width, initial-scale=1">
        <meta name="robots" content="noindex">
        <title>\(title)</title>
        <style>\(style)</style>
        </head>
        <body>
        <main>
        \(main)
        </main>
        </body>
        </html>

        """
    }
}
