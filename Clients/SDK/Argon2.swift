// Argon2id takes a good fraction of a second and 64 MiB or more: it must not
// block a thread of Swift's cooperative pool, which has one thread per core.
// It runs on its own dispatch queue and the caller awaits the result.
import CoffreCrypto
import Dispatch

enum Argon2 {
    private static let queue = DispatchQueue(label: "coffre.sdk.argon2id", qos: .userInitiated, attributes: .concurrent)

    static func derive(password: String, salt: [UInt8], profile: PasswordProfile,
                       minimum: PasswordProfile) async throws -> DerivedCredentials {
        guard !password.isEmpty else { throw CoffreClientError.invalidInput("the password is empty") }
        let result: Result<DerivedCredentials, any Error> = await withCheckedContinuation { continuation in
            queue.async {
                continuation.resume(returning: Result {
                    try DerivedCredentials.derive(password: password, salt: salt, profile: profile, minimumProfile: minimum)
                })
            }
        }
        do {
            return try result.get()
        } catch let error as CredentialError {
            switch error {
            case .emptyPassword: throw CoffreClientError.invalidInput("the password is empty")
            case .invalidSaltLength(let n): throw CoffreClientError.invalidResponse("salt of \(n) bytes, expected 16")
            case .profileBelowMinimum: throw CoffreClientError.unacceptableKDF("parameters below the minimum")
            case .profileAboveMaximum: throw CoffreClientError.unacceptableKDF("parameters above the maximum")
            case .derivationFailed: throw CoffreClientError.passwordDerivationFailed("Argon2id failed (not enough memory?)")
            }
        }
    }

    /// Any other Argon2id work (a share link's password), on the same queue.
    static func run<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        let result: Result<T, any Error> = await withCheckedContinuation { continuation in
            queue.async { continuation.resume(returning: Result { try body() }) }
        }
        return try result.get()
    }
}
