/// Reading a Cache-Control value, once for every module.
public enum CacheControl {
    /// `private` or `no-store`: keeps an answer out of shared caches (the
    /// one check for nginx's lifetime, herd's own Cache-Control, the source
    /// cache and a remote's head).
    public static func forbidsSharedCache(_ cacheControl: String?) -> Bool {
        guard let cacheControl else { return false }
        return cacheControl.containsLowercaseASCII("private") || cacheControl.containsLowercaseASCII("no-store")
    }
}
