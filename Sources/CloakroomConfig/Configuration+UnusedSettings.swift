/// Settings that parse but could never take effect with the rest of the file. Each is refused
/// rather than ignored: a setting silently unused is worse than a refusal (found by an audit,
/// one rule each). Defaults never count: only a value that differs from one is judged.
extension Configuration {
    func checkUnusedSettings(report: Report, readable: [Bool]) {
        let oidcPath = ConfigPath("login", "oidc")
        if let oidc = login.oidc {
            if oidc.bearerAudience != nil, !routes.contains(where: \.credentials.bearer) {
                report(
                    "no route accepts bearer tokens (routes[].credentials with bearer), so no token is checked against it",
                    oidcPath.appending("bearer_audience"))
            }
            if oidc.name != OIDCSettings.defaultName, login.usersFile == nil {
                report(
                    "labels the link on the built-in login page, which needs login.users_file; "
                        + "without it /login goes straight to the provider",
                    oidcPath.appending("name"))
            }
        }
        checkAPIKeyIssuing(report: report)
        checkDelegatedLogin(report: report, readable: readable)
    }

    /// API keys are issued by the admin API only; without one, and with a store no other
    /// instance shares, no key can ever exist.
    private func checkAPIKeyIssuing(report: Report) {
        guard admin == nil, let index = routes.firstIndex(where: \.credentials.apiKey) else { return }
        if case .redis = session.store { return }  // another instance sharing it may issue them
        report(
            "api_key needs the admin API to issue keys (an admin section), or a Redis store shared with an instance that has one",
            ConfigPath("routes").appending(index: index).appending("credentials"))
    }

    /// A delegated login is forwarded to the upstream of the route its path falls under: with
    /// none, no one can sign in. Judged only for a path that was set, since the default is
    /// unused by a proxy whose sessions come from the admin API or machine clients.
    private func checkDelegatedLogin(report: Report, readable: [Bool]) {
        guard login.usersFile == nil, login.oidc == nil, login.path != LoginSettings().path, readable.allSatisfy({ $0 }) else {
            return
        }
        if !anyRouteServes(login.path) {
            report(
                "no route serves \(login.path): a delegated login is forwarded to the upstream of the route it falls under; "
                    + "add one (or set login.users_file or login.oidc)",
                ConfigPath("login", "path"))
        }
    }
}
