import ArgumentParser
import CloakroomConfig
import CloakroomLogin
import Foundation

/// `cloakroom users add`: manages the built-in login's users file.
struct Users: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Manage built-in login users (login.users_file).", subcommands: [Add.self])

    struct Add: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Add or reset a user. The password is read from the terminal (not echoed) or from standard input.",
            discussion: "The password must be at least 8 characters. From standard input only its first line is read.")
        @Argument(help: "The username; it becomes the session's sub.") var name: String
        @Option(
            name: .long, help: "Users file (default: the config's login.users_file, else ./users.yaml).",
            completion: .file(extensions: ["yaml", "yml"]))
        var usersFile: String?
        @Option(name: .long, help: "Path to proxy.yaml, to find login.users_file.", completion: .file(extensions: ["yaml", "yml"]))
        var config: String?
        @Option(name: .long, help: "The user's email (session attribute `email`).") var email: String?
        @Option(name: .long, help: "A role (session attribute `roles`); repeat for several.") var role: [String] = []

        func validate() throws {
            guard !name.isEmpty, !name.contains(where: { $0.isWhitespace || $0.isNewline }) else {
                throw ValidationError("the username must be non-empty and contain no whitespace")
            }
        }

        func run() async throws {
            let path = try usersFile ?? configuredUsersFile() ?? "users.yaml"
            let password = try readPassword()
            guard password.count >= 8 else {
                printError("the password must be at least 8 characters")
                throw ExitCode(1)
            }
            do {
                try UsersFile.upsert(path: path, name: name, password: password, email: email, roles: role)
            } catch {
                printError("\(error)")
                throw ExitCode(1)
            }
            print("user \(name) saved in \(path)")
            if usersFile == nil, let read = configPathRead, try configuredUsersFile() == nil {
                // Found by an audit: the user went to a file that proxy never reads.
                printError("note: \(read) has no login.users_file; set it to \(path) for the proxy to read this user")
            }
        }

        /// The configuration file consulted for `login.users_file`, if there is one.
        private var configPathRead: String? {
            let path = config ?? ProcessEnvironment.setting("CLOAKROOM_CONFIG") ?? "proxy.yaml"
            return config != nil || FileManager.default.fileExists(atPath: path) ? path : nil
        }

        /// The configuration's `login.users_file`; a configuration that cannot say (its file
        /// unreadable, the key malformed) stops the command rather than let it write elsewhere.
        private func configuredUsersFile() throws -> String? {
            let path = config ?? ProcessEnvironment.setting("CLOAKROOM_CONFIG") ?? "proxy.yaml"
            guard config != nil || FileManager.default.fileExists(atPath: path) else { return nil }
            do {
                return try ConfigurationLoader.usersFile(contentsOf: path, environment: ProcessEnvironment.variables)
            } catch {
                printError("\(path): \(error)")
                throw ExitCode(1)
            }
        }

        /// From a terminal: prompt twice with echo off. Otherwise the first line of stdin.
        private func readPassword() throws -> String {
            guard isatty(STDIN_FILENO) == 1 else {
                guard let line = readLine(strippingNewline: true) else {
                    printError("no password on standard input")
                    throw ExitCode(1)
                }
                return line
            }
            let first = try Terminal.readSecret(prompt: "Password for \(name): ")
            let second = try Terminal.readSecret(prompt: "Repeat the password: ")
            guard first == second else {
                printError("the passwords do not match")
                throw ExitCode(1)
            }
            return first
        }
    }
}

/// The terminal's settings while a secret is read with echo off, for ``Terminal/restoreAndExit``.
/// Written before the signal handlers are installed, read only by them.
nonisolated(unsafe) private var terminalBeforeSecret = termios()

/// Reading a secret from the terminal with echo off (termios), restoring it afterwards, also
/// when Ctrl-C, a hang-up or a kill ends the command at the prompt (the shell would otherwise be
/// left with echo off).
enum Terminal {
    static let interruptions = [SIGINT, SIGTERM, SIGHUP, SIGQUIT]

    static func readSecret(prompt: String) throws -> String {
        FileHandle.standardError.write(Data(prompt.utf8))
        var original = termios()
        guard tcgetattr(STDIN_FILENO, &original) == 0 else {
            // Not a terminal (a pipe): nothing to silence.
            guard let line = readLine(strippingNewline: true) else { throw ExitCode(1) }
            return line
        }
        terminalBeforeSecret = original
        for interruption in interruptions { signal(interruption, restoreAndExit) }
        var silent = original
        silent.c_lflag &= ~tcflag_t(ECHO)
        tcsetattr(STDIN_FILENO, TCSAFLUSH, &silent)
        defer {
            tcsetattr(STDIN_FILENO, TCSAFLUSH, &original)
            for interruption in interruptions { signal(interruption, SIG_DFL) }
            FileHandle.standardError.write(Data("\n".utf8))
        }
        guard let line = readLine(strippingNewline: true) else { throw ExitCode(1) }
        return line
    }

    /// The signal handler while echo is off: async-signal-safe calls only (tcsetattr, write,
    /// _exit); the status a shell expects of a command ended by that signal.
    private static let restoreAndExit: @convention(c) (Int32) -> Void = { received in
        tcsetattr(STDIN_FILENO, TCSANOW, &terminalBeforeSecret)
        _ = write(STDERR_FILENO, "\n", 1)
        _exit(128 + received)
    }
}
