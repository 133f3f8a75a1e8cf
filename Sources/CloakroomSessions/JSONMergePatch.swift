extension JSONValue {
    /// This value with an RFC 7386 JSON merge patch applied.
    ///
    /// An object patch merges into the target name by name, recursively: a `null` member removes
    /// the name, any other member replaces or merges into it, and a non-object target is first
    /// replaced by `{}`. Any other patch (array, string, number, bool, null) replaces the target
    /// whole. Arrays are never merged element-wise.
    public func applyingMergePatch(_ patch: JSONValue) -> JSONValue {
        guard case .object(let patchMembers) = patch else { return patch }
        var result: JSONObject
        if case .object(let target) = self {
            result = target
        } else {
            result = [:]
        }
        for (name, patchValue) in patchMembers {
            if patchValue == .null {
                result.removeValue(forKey: name)
            } else {
                result[name] = (result[name] ?? .null).applyingMergePatch(patchValue)
            }
        }
        return .object(result)
    }
}
