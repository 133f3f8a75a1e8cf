/// Replaces `${NAME}` in configuration strings with environment variables.
///
/// `$$` stands for a literal `$`. A `$` followed by anything other than `{` or `$` is kept as
/// it is, so values such as password hashes need no escaping. Substitution happens per scalar
/// value after YAML parsing, never on the raw text, so a variable's value cannot change the
/// structure of the file. Mapping keys are not substituted.
enum EnvironmentSubstitution {
    enum Failure: Equatable {
        case unset(name: String)
        case malformed(reference: String)

        var message: String {
            switch self {
            case .unset(let name):
                "environment variable \(name) is not set"
            case .malformed(let reference):
                "malformed environment reference \"\(reference)\" (write ${NAME}, or $$ for a literal $)"
            }
        }
    }

    enum Outcome: Equatable {
        case substituted(String)
        /// Every failed reference, in order of appearance.
        case failed([Failure])
    }

    static func substitute(_ text: String, environment: [String: String]) -> Outcome {
        guard text.contains("$") else { return .substituted(text) }
        var output = ""
        var failures: [Failure] = []
        var index = text.startIndex
        while index < text.endIndex {
            let character = text[index]
            let next = text.index(after: index)
            guard character == "$", next < text.endIndex else {
                output.append(character)
                index = next
                continue
            }
            switch text[next] {
            case "$":
                output.append("$")
                index = text.index(after: next)
            case "{":
                let nameStart = text.index(after: next)
                guard let close = text[nameStart...].firstIndex(of: "}") else {
                    failures.append(.malformed(reference: String(text[index...])))
                    index = text.endIndex
                    continue
                }
                let name = String(text[nameStart..<close])
                if !isVariableName(name) {
                    failures.append(.malformed(reference: String(text[index...close])))
                } else if let value = environment[name] {
                    output += value
                } else {
                    failures.append(.unset(name: name))
                }
                index = text.index(after: close)
            default:
                output.append(character)
                index = next
            }
        }
        return failures.isEmpty ? .substituted(output) : .failed(failures)
    }

    /// POSIX shell variable names: a letter or `_`, then letters, digits and `_`.
    static func isVariableName(_ name: String) -> Bool {
        guard let first = name.unicodeScalars.first, first.isASCII,
            first == "_" || first.properties.isAlphabetic
        else { return false }
        return name.unicodeScalars.allSatisfy {
            $0.isASCII && ($0 == "_" || $0.properties.isAlphabetic || ("0"..."9").contains($0))
        }
    }
}
