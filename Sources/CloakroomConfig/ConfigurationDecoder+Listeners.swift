/// `listen`, with TLS, and `client`.
extension ConfigurationDecoder {
    func listeners(_ value: YAMLValue) -> [Listener]? {
        guard let items = reader.sequence(value) else { return nil }
        guard !items.isEmpty else {
            reader.report("must list at least one listener", at: value.path)
            return nil
        }
        // One entry per item, even a broken one, so indexes match the file for later rules.
        return items.map { listener($0) ?? Listener(address: SocketAddressSpec(host: "", port: 0)) }
    }

    private func listener(_ value: YAMLValue) -> Listener? {
        guard let map = reader.mapping(value, knownKeys: ["address", "tls"]) else { return nil }
        let address = map.required("address", reader.address)
        let tls = map.optional("tls") { reader.nullable($0, tlsSettings) } ?? nil
        return address.map { Listener(address: $0, tls: tls) }
    }

    private func tlsSettings(_ value: YAMLValue) -> TLSSettings? {
        guard let map = reader.mapping(value, knownKeys: ["certificate", "private_key"]) else { return nil }
        let certificate = map.required("certificate", existingFile)
        let privateKey = map.required("private_key", existingFile)
        guard let certificate, let privateKey else { return nil }
        return TLSSettings(certificatePath: certificate, privateKeyPath: privateKey)
    }

    /// A path to a readable regular file, relative to the working directory.
    func existingFile(_ value: YAMLValue) -> String? {
        guard let path = reader.string(value) else { return nil }
        if let problem = PathRules.readableFile(path, in: files) {
            reader.report(problem, at: value.path)
            return nil
        }
        return path
    }

    static let maximumHeaderBytes = 1 << 30

    func clientLimits(_ value: YAMLValue) -> ClientLimits? {
        let keys = [
            "header_timeout", "idle_timeout", "body_timeout", "max_header_bytes", "max_body_bytes", "tunnel_idle_timeout",
            "max_concurrent_streams", "trusted_proxies",
        ]
        guard let map = reader.mapping(value, knownKeys: keys) else { return nil }
        var limits = ClientLimits()
        if let proxies = map.optional("trusted_proxies", cidrBlocks) { limits.trustedProxies = proxies }
        if let timeout = map.optional("header_timeout", reader.duration) { limits.headerTimeout = timeout }
        if let timeout = map.optional("idle_timeout", reader.duration) { limits.idleTimeout = timeout }
        if let timeout = map.optional("body_timeout", reader.duration) { limits.bodyTimeout = timeout }
        // Below 256 bytes hardly a bare request head fits (SPEC's own example size, 512, is a
        // tight but working limit for a test or a machine client). Above 1GiB, twice the value
        // (what HTTP/2 advertises as SETTINGS_MAX_HEADER_LIST_SIZE, a 32-bit field) no longer fits.
        if let bytes = map.optional("max_header_bytes", { reader.size($0, atLeast: 256, atMost: Self.maximumHeaderBytes) }) {
            limits.maxHeaderBytes = bytes
        }
        if let bytes = map.optional("max_body_bytes", { reader.size($0, atLeast: 1) }) { limits.maxBodyBytes = bytes }
        if let timeout = map.optional("tunnel_idle_timeout", reader.duration) { limits.tunnelIdleTimeout = timeout }
        // HTTP/2 SETTINGS_MAX_CONCURRENT_STREAMS, and stream IDs, are 31-bit.
        if let streams = map.optional("max_concurrent_streams", { reader.integer($0, atLeast: 1, atMost: Int(Int32.max)) }) {
            limits.maxConcurrentStreams = streams
        }
        return limits
    }

    /// A list of IPv4 or IPv6 networks (`10.0.0.0/8`, `2001:db8::/32`, a bare address), each
    /// problem at its item's path; duplicates are harmless and kept.
    func cidrBlocks(_ value: YAMLValue) -> [CIDRBlock]? {
        guard let items = reader.sequence(value) else { return nil }
        let blocks = items.compactMap { item -> CIDRBlock? in
            guard let text = reader.scalarText(item, expecting: "a network like 10.0.0.0/8 or 2001:db8::/32") else { return nil }
            return reader.check(CIDRBlock.parse(text.trimmingSpaces), at: item.path)
        }
        return blocks.count == items.count ? blocks : nil
    }
}

extension String {
    /// Without leading and trailing spaces.
    var trimmingSpaces: String {
        String(drop { $0 == " " }.reversed().drop { $0 == " " }.reversed())
    }
}
