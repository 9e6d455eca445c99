/// The image variants nginx keys its media cache on.
public enum Variant: String, Sendable, CaseIterable {
    case avif, webp, orig
}
