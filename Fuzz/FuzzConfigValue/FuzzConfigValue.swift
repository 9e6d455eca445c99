// libFuzzer target: configuration values — the shared ValueParser and every
// key of the configuration table, fed the input as text (environment,
// `--set`), and as a TOML integer, float and boolean.
//
// Properties checked:
//   - booleans: exactly true/1/yes/on and false/0/no/off, in any case;
//   - sizes are never negative from text, and sizes and seconds read back
//     what herd prints for them (formatSize, formatSeconds);
//   - a key that accepts a value changes its own field only, and what
//     `check-config` prints for it is valid TOML that loads back to the same
//     configuration.
import Foundation
@testable import Herd
@testable import Media
import Settings
import TOMLKit

/// The table, built once (the fuzzer calls in on one thread).
nonisolated(unsafe) private let keys = ConfigurationKey.all
private let defaults = HerdConfiguration()
private let defaultRendering = keys.map { $0.render(defaults) }

private func violated(_ property: String, _ value: ConfigurationValue, _ details: String) -> Never {
    fatalError("FuzzConfigValue: \(property) — value \(String(reflecting: value)): \(details)")
}

private func checkParsers(_ value: ConfigurationValue) {
    if case .text(let text) = value {
        let expected: Bool? = switch text.lowercased() {
        case "true", "1", "yes", "on": true
        case "false", "0", "no", "off": false
        default: nil
        }
        guard ValueParser.bool(value) == expected else { violated("boolean words", value, "\(String(describing: ValueParser.bool(value)))") }
        if let number = ValueParser.integer(value), ValueParser.integer(.text(String(number))) != number {
            violated("integer round trip", value, "\(number)")
        }
        if let bytes = ValueParser.size(value) {
            guard bytes >= 0 else { violated("a size from text is not negative", value, "\(bytes)") }
        }
    }
    // Text sizes are read through a Double: exact up to 2^53 bytes (8 PiB).
    if let bytes = ValueParser.size(value), bytes >= 0, bytes <= 1 << 53 {
        let printed = formatSize(bytes).trimmingCharacters(in: CharacterSet(charactersIn: "\""))
        guard ValueParser.size(.text(printed)) == bytes else { violated("size reads back formatSize", value, "\(bytes) → \(printed)") }
    }
    // Known, reported: "infms" and "nanms" read as inf and nan (the `ms`
    // branch skips the isFinite check the others make). Every seconds key
    // then refuses them by range, which checkKeys covers (a stored inf would
    // trap in formatSeconds), so only finite values are checked here.
    if let seconds = ValueParser.seconds(value), seconds.isFinite {
        if (0...86_400).contains(seconds) {
            let printed = formatSeconds(seconds)
            guard ValueParser.seconds(.text(printed)) == seconds else {
                violated("seconds read back formatSeconds", value, "\(seconds) → \(printed)")
            }
        }
    }
}

private func checkKeys(_ value: ConfigurationValue) {
    for (index, key) in keys.enumerated() {
        var configuration = defaults
        guard key.apply(&configuration, value) == nil else {
            guard configuration == defaults else { violated("a refused value changes nothing", value, key.name) }
            continue
        }
        for (other, otherKey) in keys.enumerated() where other != index && otherKey.render(configuration) != defaultRendering[other] {
            violated("\(key.name) changes \(otherKey.name)", value, otherKey.render(configuration))
        }
        let rendered = key.render(configuration)
        let document = "[\(key.section)]\n\(key.leaf) = \(rendered)\n"
        let table: TOMLTable
        do {
            table = try TOMLTable(string: document)
        } catch {
            violated("\(key.name) prints valid TOML", value, "\(String(reflecting: document)): \(error)")
        }
        var reloaded = defaults
        do {
            try ConfigurationLoader.apply(table: table, to: &reloaded, keys: keys, source: "fuzz")
        } catch {
            violated("\(key.name) loads back what it prints", value, "\(String(reflecting: document)): \(error)")
        }
        guard reloaded == configuration else {
            violated("\(key.name) round trip", value, "\(String(reflecting: document)) loads as \(key.render(reloaded))")
        }
    }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = UnsafeBufferPointer(start: data, count: size)
    let text = String(decoding: bytes, as: UTF8.self)
    var values: [ConfigurationValue] = [.text(text)]
    // The same text as TOML would type it, and the first bytes as raw numbers.
    let trimmed = text.trimmingCharacters(in: .whitespaces)
    if let integer = Int(trimmed) { values.append(.integer(integer)) }
    if let number = Double(trimmed) { values.append(.number(number)) }
    if size >= 8 {
        let bits = bytes.prefix(8).reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
        values.append(.integer(Int(truncatingIfNeeded: bits)))
        values.append(.number(Double(bitPattern: bits)))
    }
    if size >= 1 { values.append(.flag(bytes[0] & 1 == 1)) }
    for value in values {
        checkParsers(value)
        checkKeys(value)
    }
    return 0
}
