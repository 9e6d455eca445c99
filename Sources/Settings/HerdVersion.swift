/// herd's version: `herd --version`, the package's, the User-Agent.
public enum HerdVersion {
    public static let string = "0.2.0"
}
