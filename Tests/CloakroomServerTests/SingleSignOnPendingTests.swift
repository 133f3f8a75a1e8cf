import Foundation
import Testing

/// Pending-login cookies take one of 16 slots: found by an audit, logins started and never
/// finished (another site can send a browser through `/login` again and again) piled up one
/// cookie each until the callback's `Cookie` field passed `max_header_bytes` and every sign-in
/// got 431 for ten minutes.
@Suite(.serialized)
struct SingleSignOnPendingTests {
    @Test func unfinishedLoginsReplaceEachOtherInsteadOfPilingUp() async throws {
        let idp = try await IdentityProviderProcess.stub(mode: "good")
        defer { idp.stop() }
        let proxy = try await SingleSignOnRefusalTests.start(signingInAt: idp)
        defer { Task { await proxy.stop() } }
        let browser = CookieJarBrowser()
        var names = Set<String>()
        var last: ClientResponse?
        for index in 0..<40 {
            let started = try await browser.get("\(proxy.base)/login?next=/n\(index)")
            #expect(started.status == 303)
            if let name = started.header("set-cookie")?.split(separator: "=").first { names.insert(String(name)) }
            last = started
        }
        #expect(names.count == 16, "\(names.sorted())")
        let held = try String(contentsOfFile: browser.jar, encoding: .utf8).split(separator: "\n").filter { $0.contains("_oidc_") }
        #expect(held.count == 16, "the browser holds one cookie per slot")

        // The last login completes.
        let (final, url) = try await browser.follow(try #require(last), from: "\(proxy.base)/login?next=/n39")
        #expect(final.status == 200 && url == "\(proxy.base)/n39", "\(url) \(final.status)")
    }
}
