import CloakroomConfig
import CloakroomJOSE
import CloakroomSessions
import Crypto
import Synchronization

import struct Foundation.Date

/// The provider's access tokens presented as `Authorization: Bearer <JWT>` on routes with
/// `credentials: [bearer]`: verified with the login's key set and algorithm rules (the same
/// ``ProviderKeySet``, so one JWKS fetch and one refetch limit serve both), `iss` the issuer,
/// `aud` containing `bearer_audience` — without the ID token's `azp` rule, and refused when it
/// carries a `nonce`, as the ID tokens of this proxy's logins do —
/// then mapped by `login.oidc.claims` exactly as a login is (``ClaimsMapping``), from the
/// token's own claims (no userinfo call per token).
///
/// No session is made: the token is the credential until its `exp`. Each token is verified
/// once; later requests are answered by the ``BearerCache``.
public final class BearerTokens: Sendable {
    public let verifier: TokenVerifier
    public let mapping: ClaimsMapping
    public let cache: BearerCache
    private let verifications = Atomic<Int>(0)

    /// How many tokens have been verified (signature and claims) rather than answered from the
    /// cache.
    public var verificationCount: Int { verifications.load(ordering: .relaxed) }

    public init(issuer: String, audience: String, claims: [ClaimMapping], keys: ProviderKeySet, capacity: Int = BearerCache.defaultCapacity) {
        self.verifier = TokenVerifier(issuer: issuer, rule: .resource(audience), keys: keys)
        self.mapping = ClaimsMapping(claims)
        self.cache = BearerCache(capacity: capacity)
    }

    /// The verdict without waiting when the cache knows the token; `nil`: call ``check(_:now:)``.
    public func checkNow(_ token: String, now: Date) -> BearerCheck? {
        cache.lookup(BearerCache.key(token), now: now)
    }

    /// The cached verdict, else verifies the token (fetching keys when needed) and caches what
    /// it finds.
    public func check(_ token: String, now: Date) async -> BearerCheck {
        let key = BearerCache.key(token)
        if let known = cache.lookup(key, now: now) { return known }
        let check = await verify(token, key: key, now: now)
        cache.store(check, for: key, now: now)
        return check
    }

    private func verify(_ token: String, key: SHA256Digest, now: Date) async -> BearerCheck {
        verifications.add(1, ordering: .relaxed)
        let verified: VerifiedToken
        do {
            verified = try await verifier.verify(token, now: now)
        } catch let rejection as TokenRejection {
            if case .keysUnavailable(let why) = rejection { return .providerUnavailable(why) }
            return .invalid(rejection.description)
        } catch {
            return .invalid("token not verified")
        }
        // The verifier refuses a token without exp; the guard keeps that rule visible here.
        guard let exp = verified.claims.exp else { return .invalid(TokenRejection.missingClaim("exp").description) }
        // An ID token is no access token (found by an audit: with `bearer_audience` equal to
        // `client_id` one passed, and the proxy itself puts ID tokens in URLs as
        // `id_token_hint`). Every ID token this proxy asks for carries `nonce`; access tokens
        // never do (RFC 9068 has none).
        guard verified.claims.nonce == nil else { return .invalid("an ID token (it carries nonce), not an access token") }
        guard let claims = try? JSONValue.parseObject(utf8: verified.payload),
            let attributes = mapping.attributes(from: [claims])
        else {
            return .invalid(mapping.subjectProblem)
        }
        return .valid(VerifiedBearer(attributes: attributes, expiresAt: Date(timeIntervalSince1970: exp), handle: BearerCache.handle(key)))
    }
}
