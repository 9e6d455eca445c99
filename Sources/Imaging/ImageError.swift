/// Why an image could not be converted: a kind (a short reason fit for a log
/// field and a metric label) and a detail. Which HTTP status a client gets,
/// when the original cannot stand in, is decided in one place: the worker's
/// `ImageConversion.decide`.
public struct ImageError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Kind: String, Sendable {
        /// Header says more pixels than `image.max_pixels`.
        case tooManyPixels = "too_many_pixels"
        /// More frames than `image.max_frames`.
        case tooManyFrames = "too_many_frames"
        /// Larger than `image.max_source_bytes`.
        case tooLarge = "too_large"
        /// The decoder refused the data (truncated, corrupt).
        case corrupt
        /// The conversion ran past its time budget.
        case timeout
        /// An encoder failed.
        case encodeFailed = "encode_failed"
        /// Something we do not convert (animation, odd colour model).
        case unsupported
        /// The source's format is not in `image.decode`.
        case decoderOff = "decoder_off"
    }

    public let kind: Kind
    public let detail: String

    public init(_ kind: Kind, _ detail: String) {
        self.kind = kind
        self.detail = detail
    }

    public var description: String { "\(kind.rawValue): \(detail)" }
}
