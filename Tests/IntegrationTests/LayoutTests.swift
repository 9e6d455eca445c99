import Foundation
import Testing

/// The README's layout table names every folder of the tree that holds code
/// (Sources/ and its folders, Tests/, deploy/): a folder added and not
/// described fails here.
@Suite("README layout")
struct LayoutTests {
    @Test("every module, module folder, test target and deploy area is in the README's layout table")
    func layoutTableCoversTheTree() throws {
        let readme = try String(contentsOf: Paths.repository.appendingPathComponent("README.md"), encoding: .utf8)
        let layout = try #require(readme.range(of: "## Layout\n").map { String(readme[$0.upperBound...]) })
        let fileManager = FileManager.default
        func folders(_ path: String) -> [String] {
            let url = Paths.repository.appendingPathComponent(path)
            return ((try? fileManager.contentsOfDirectory(atPath: url.path)) ?? []).filter { name in
                var isDirectory: ObjCBool = false
                return !name.hasPrefix(".") && fileManager.fileExists(atPath: url.appendingPathComponent(name).path, isDirectory: &isDirectory)
                    && isDirectory.boolValue
            }.sorted()
        }
        var missing: [String] = []
        for module in folders("Sources") {
            // A module is named by its path or, in a row of several, by its bare name.
            if !layout.contains("Sources/\(module)") && !layout.contains("`\(module)`") { missing.append("Sources/\(module)") }
            for folder in folders("Sources/\(module)") where folder != "include" {
                if !layout.contains("\(folder)/") { missing.append("Sources/\(module)/\(folder)") }
            }
        }
        for target in folders("Tests") where !layout.contains("Tests/\(target)") && !layout.contains("`\(target)`") {
            missing.append("Tests/\(target)")
        }
        for area in folders("deploy") where !layout.contains("deploy/\(area)") { missing.append("deploy/\(area)") }
        for top in ["demo/", "scripts/", "Fuzz/", "bench/"] where !layout.contains("`\(top)`") { missing.append(top) }
        #expect(missing.isEmpty, "not in the README's layout table: \(missing)")
    }
}
