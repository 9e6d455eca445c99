import Foundation
import Media

/// A raw value from one of the three sources: typed when it comes from TOML,
/// text when it comes from an environment variable or a flag.
enum ConfigurationValue {
    case text(String)
    case integer(Int)
    case number(Double)
    case flag(Bool)
    /// A TOML array of strings.
    case list([String])
    case other(typeName: String)

    var typeName: String {
        switch self {
        case .text: "a string"
        case .integer: "an integer"
        case .number: "a float"
        case .flag: "a boolean"
        case .list: "a list"
        case .other(let name): name
        }
    }
}

/// Parsers shared by every key of a kind, so `"30"` in the environment and
/// `30` in the file mean the same.
enum ValueParser {
    static func bool(_ value: ConfigurationValue) -> Bool? {
        switch value {
        case .flag(let flag): return flag
        case .text(let text):
            switch text.lowercased() {
            case "true", "1", "yes", "on": return true
            case "false", "0", "no", "off": return false
            default: return nil
            }
        default: return nil
        }
    }

    static func integer(_ value: ConfigurationValue) -> Int? {
        switch value {
        case .integer(let number): return number
        case .text(let text): return Int(text.trimmingCharacters(in: .whitespaces))
        default: return nil
        }
    }

    static func seconds(_ value: ConfigurationValue) -> Double? {
        switch value {
        case .integer(let number): return Double(number)
        case .number(let number): return number.isFinite ? number : nil
        case .text(var text):
            text = text.trimmingCharacters(in: .whitespaces).lowercased()
            if text.hasSuffix("ms"), let ms = Double(text.dropLast(2)) { return ms.isFinite ? ms / 1000 : nil }
            if text.hasSuffix("s") { text.removeLast() }
            guard let number = Double(text), number.isFinite else { return nil }
            return number
        default: return nil
        }
    }

    /// Bytes, as an integer or a string with a unit: `512KB`, `16MiB`, `1G`.
    /// Units are binary (1 KB = 1024 bytes), as admins expect for memory.
    static func size(_ value: ConfigurationValue) -> Int? {
        switch value {
        case .integer(let number): return number
        case .text(let raw):
            let text = raw.trimmingCharacters(in: .whitespaces).uppercased()
            let digits = text.prefix { $0.isNumber || $0 == "." }
            guard !digits.isEmpty, let number = Double(digits) else { return nil }
            var unit = text.dropFirst(digits.count).trimmingCharacters(in: .whitespaces)
            if unit.hasSuffix("IB") { unit.removeLast(2) } else if unit.hasSuffix("B") { unit.removeLast() }
            let multiplier: Double
            switch unit {
            case "": multiplier = 1
            case "K": multiplier = 1024
            case "M": multiplier = 1024 * 1024
            case "G": multiplier = 1024 * 1024 * 1024
            default: return nil
            }
            let bytes = number * multiplier
            guard bytes.isFinite, bytes < Double(Int.max) else { return nil }
            return Int(bytes)
        default: return nil
        }
    }

    /// A TOML array of strings, or comma-separated text (the environment,
    /// `--set`): `"10.0.0.0/8, fd00::/8"`. Blank items are dropped, so
    /// `""` is the empty list.
    static func list(_ value: ConfigurationValue) -> [String]? {
        switch value {
        case .list(let items): return items.map { $0.trimmingCharacters(in: .whitespaces) }
        case .text(let text):
            return text.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        default: return nil
        }
    }

    static func text(_ value: ConfigurationValue) -> String? {
        if case .text(let text) = value { return text }
        return nil
    }
}
