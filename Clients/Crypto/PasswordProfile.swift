// Argon2id cost parameters. They are stored next to the salt so any device
// can repeat the derivation, which means the server hands them back at login:
// a client must refuse a profile weaker than its minimum (a server could
// otherwise ask for a cheap hash and brute-force the password offline) and
// one so expensive it would hang the device.
import Sodium

public struct PasswordProfile: Sendable, Hashable, Codable {
    /// Argon2id passes over memory.
    public let opsLimit: UInt64
    /// Memory in bytes.
    public let memLimit: Int

    public init(opsLimit: UInt64, memLimit: Int) {
        self.opsLimit = opsLimit
        self.memLimit = memLimit
    }

    /// libsodium's INTERACTIVE: 2 passes, 64 MiB. The default for accounts.
    public static let interactive = PasswordProfile(
        opsLimit: Sodium.argon2idOpsLimitInteractive, memLimit: Sodium.argon2idMemLimitInteractive)

    /// libsodium's MODERATE: 3 passes, 256 MiB.
    public static let moderate = PasswordProfile(
        opsLimit: Sodium.argon2idOpsLimitModerate, memLimit: Sodium.argon2idMemLimitModerate)

    /// FOR LOAD TESTS AND UNIT TESTS ONLY: 1 pass, 8 MiB. Far too cheap to
    /// protect a real password; it exists so a load generator can sign up
    /// thousands of synthetic accounts. Clients reject it unless the caller
    /// lowers `minimumProfile` to it explicitly.
    public static let testing = PasswordProfile(opsLimit: 1, memLimit: 8 << 20)

    /// The most a client will spend, whatever the server asks: 16 passes, 1 GiB.
    public static let maximum = PasswordProfile(opsLimit: 16, memLimit: 1 << 30)

    /// At least as expensive as `other` in both dimensions.
    public func isAtLeast(_ other: PasswordProfile) -> Bool {
        opsLimit >= other.opsLimit && memLimit >= other.memLimit
    }
}
