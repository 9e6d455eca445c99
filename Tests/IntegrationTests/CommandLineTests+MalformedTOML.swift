import Foundation
import Testing

extension CommandLineTests {
    /// toml++ (inside TOMLKit) aborts on these instead of reporting an error
    /// (found by fuzz-config-loader); herd must still end with one line and 2.
    @Test("files the TOML parser would abort on: one line, exit 2, no crash",
          arguments: ["[.image]\n", "[ #\n", "[=a]\n", "[upstream]\ntimeout = 0989-05-27T\u{8}07:32:00Z\n"])
    func malformedTOML(text: String) throws {
        let path = try writeConfig(text)
        let run = try herd(["check-config", "-c", path])
        #expect(run.status == 2, "status \(run.status): \(run.errors)")
        #expect(run.errors.contains("not valid TOML") || run.errors.contains("configuration error"), "\(run.errors)")
        #expect(!run.errors.contains("Assertion") && !run.errors.contains("crashed"), "\(run.errors)")
    }
}
