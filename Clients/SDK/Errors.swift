// The SDK's two kinds of failure: the server said no (`CoffreAPIError`, from
// an RFC 9457 problem+json body), or something on the client side went wrong
// (`CoffreClientError`: network, a response that breaks the contract, a key
// bundle that must not be trusted). Every description is one short line fit
// for a user and never contains a secret.
import CoffreCrypto
import Foundation

/// A non-2xx answer from the server.
public struct CoffreAPIError: Error, Sendable, Equatable, CustomStringConvertible, LocalizedError {
    public var status: Int
    /// The problem type URI, `about:blank` when the server sent none.
    public var type: String
    public var title: String
    public var detail: String?
    /// Seconds to wait before trying again (`Retry-After`), when the server said so.
    public var retryAfter: Int?
    public var requestID: String?

    public init(status: Int, type: String = "about:blank", title: String, detail: String? = nil,
                retryAfter: Int? = nil, requestID: String? = nil) {
        self.status = status
        self.type = type
        self.title = title
        self.detail = detail
        self.retryAfter = retryAfter
        self.requestID = requestID
    }

    public static let invalidCredentialsType = "urn:coffre:problem:invalid-credentials"
    public static let totpRequiredType = "urn:coffre:problem:totp-required"
    public static let emailTakenType = "urn:coffre:problem:email-taken"

    /// Wrong email or password (login, recovery, deletion). The server answers
    /// identically for an unknown email, on purpose.
    public var isInvalidCredentials: Bool { type == Self.invalidCredentialsType }
    /// The password was right but a valid TOTP code is needed.
    public var isTOTPRequired: Bool { type == Self.totpRequiredType }
    public var isEmailTaken: Bool { type == Self.emailTakenType }

    public var description: String {
        if isInvalidCredentials { return "wrong email or password" }
        if isTOTPRequired { return "a valid two-factor code is required" }
        if isEmailTaken { return "an account with this email already exists" }
        var text = "server refused: \(status) \(title.lowercased())"
        if let detail, !detail.isEmpty, detail.lowercased() != title.lowercased() {
            text += ": \(detail.trimmingCharacters(in: .whitespacesAndNewlines))"
        }
        if let retryAfter { text += ", retry in \(retryAfter) s" }
        return text
    }

    public var errorDescription: String? { description }

    /// Builds the error from a response: problem+json when the body is one,
    /// otherwise the status and its reason phrase.
    static func from(_ response: TransportResponse) -> CoffreAPIError {
        struct Problem: Decodable {
            var type: String?
            var title: String?
            var status: Int?
            var detail: String?
            var request_id: String?
        }
        let problem = try? JSONDecoder().decode(Problem.self, from: Data(response.body))
        let title = problem?.title.flatMap { $0.isEmpty ? nil : $0 } ?? reasonPhrase(response.status)
        return CoffreAPIError(status: response.status, type: problem?.type ?? "about:blank", title: title,
                              detail: problem?.detail, retryAfter: parseRetryAfter(response.header("retry-after")),
                              requestID: problem?.request_id ?? response.header("x-request-id"))
    }

    static func parseRetryAfter(_ value: String?, now: Date = Date()) -> Int? {
        guard let value = value?.trimmingCharacters(in: .whitespaces), !value.isEmpty else { return nil }
        if let seconds = Int(value) { return max(0, seconds) }
        guard let date = parseHTTPDate(value) else { return nil }
        return max(0, Int(date.timeIntervalSince(now).rounded(.up)))
    }

    /// An RFC 9110 IMF-fixdate ("Sun, 06 Nov 1994 08:49:37 GMT").
    static func parseHTTPDate(_ value: String) -> Date? {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "GMT")
        formatter.dateFormat = "EEE, dd MMM yyyy HH:mm:ss zzz"
        return formatter.date(from: value.trimmingCharacters(in: .whitespaces))
    }

    static func reasonPhrase(_ status: Int) -> String {
        switch status {
        case 400: "Bad Request"
        case 401: "Unauthorized"
        case 403: "Forbidden"
        case 404: "Not Found"
        case 405: "Method Not Allowed"
        case 409: "Conflict"
        case 413: "Content Too Large"
        case 415: "Unsupported Media Type"
        case 422: "Unprocessable Content"
        case 429: "Too Many Requests"
        case 500: "Internal Server Error"
        case 502: "Bad Gateway"
        case 503: "Service Unavailable"
        case 504: "Gateway Timeout"
        default: "HTTP \(status)"
        }
    }
}

/// A failure on the client side of the exchange.
public enum CoffreClientError: Error, Sendable, Equatable, CustomStringConvertible, LocalizedError {
    /// No HTTP exchange happened: refused, reset, DNS, TLS.
    case unreachable(server: String, reason: String)
    case timedOut(server: String)
    case cancelled
    /// The server answered something that breaks the API contract.
    case invalidResponse(String)
    /// The key bundle the server returned did not unlock and verify. Nothing
    /// from it was used. A wrong password cannot cause this (the server checks
    /// the login secret first), so it means a broken or malicious server.
    case keyBundleRejected(String)
    /// The server asked for Argon2id parameters outside what this client accepts.
    case unacceptableKDF(String)
    /// The server assigned an account id other than the one the new key bundle is bound to.
    case accountIDMismatch(expected: String, received: String)
    /// An access or refresh token was refused: the session expired, was revoked or logged out.
    case sessionEnded
    /// The operation needs the account's keys, which this session does not hold
    /// (it was restored from disk; keys are only ever in memory after a login).
    case keysUnavailable
    /// The password does not open the saved key bundle.
    case wrongPassword
    case invalidRecoveryKey(String)
    /// Bad input from the caller (empty email, empty password, …).
    case invalidInput(String)
    /// Argon2id could not run (usually: not enough memory).
    case passwordDerivationFailed(String)

    public var description: String {
        switch self {
        case let .unreachable(server, reason): "cannot reach \(server): \(reason)"
        case let .timedOut(server): "no answer from \(server) in time"
        case .cancelled: "cancelled"
        case let .invalidResponse(what): "unexpected response from the server: \(what)"
        case let .keyBundleRejected(reason):
            "the key bundle sent by the server was rejected (\(reason)); no key from it was used. The server may be broken or malicious"
        case let .unacceptableKDF(reason): "refusing the server's password-hashing parameters: \(reason)"
        case let .accountIDMismatch(expected, received):
            "the server assigned account id \(received), but the keys were bound to \(expected)"
        case .sessionEnded: "the session has expired or was revoked; log in again"
        case .keysUnavailable: "this session does not hold the account keys; log in again with the password"
        case .wrongPassword: "wrong password (or the saved keys are out of date: run `coffre login`)"
        case let .invalidRecoveryKey(reason): "invalid recovery key: \(reason)"
        case let .invalidInput(reason): reason
        case let .passwordDerivationFailed(reason): "password hashing failed: \(reason)"
        }
    }

    public var errorDescription: String? { description }
}

extension KeyBundleError {
    /// A short reason for `CoffreClientError.keyBundleRejected`.
    var reason: String {
        switch self {
        case let .unsupportedVersion(version): "unsupported bundle version \(version)"
        case let .accountMismatch(expected, found): "bundle belongs to account \(found), not \(expected)"
        case let .slotUnreadable(slot, error): "\(slot.rawValue) does not authenticate (\(error))"
        case let .swappedSlots(slot, holds): "\(slot.rawValue) holds the \(holds.rawValue) key: slots were swapped"
        case let .malformedKey(slot): "\(slot.rawValue) has the wrong length"
        case let .publicKeyMismatch(slot): "the public key does not match \(slot.rawValue)"
        }
    }
}

extension RecoveryKeyError {
    var reason: String {
        switch self {
        case let .invalidCharacter(position): "character \(position + 1) is not a valid recovery-key character"
        case let .wrongLength(count): "expected 56 characters, got \(count)"
        case .checksumMismatch: "checksum mismatch (a character was mistyped)"
        }
    }
}
