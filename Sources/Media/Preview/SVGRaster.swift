import Basics
import System

/// An SVG as a PNG at its own size, made by librsvg's `rsvg-convert` in a
/// process of its own (`misskey.svg_rasterizer`), for Misskey's media proxy,
/// which answers SVG as a raster image (never as SVG: it runs script).
///
/// Isolation: a `BoundedChild` (address space 512 MB, CPU and wall-clock
/// seconds `image.timeout`, no core file, killed past its deadline; no
/// network where namespaces are allowed). The SVG reaches rsvg-convert on
/// stdin, so it has no base file and librsvg loads no external reference
/// at all (librsvg 2.54 loads neither `http:` URLs nor files outside a base
/// file's directory); libxml2 refuses entity loops and amplification
/// ("billion laughs") at parse time; gdk-pixbuf gets no loader, so an
/// embedded raster image (a `data:` URL) is never decoded. Measured: a 100×80 SVG in 0.03 s and
/// 16 MB resident; an SVG whose size is too large for the address space
/// fails, and the answer is the specification's error.
struct SVGRaster: Sendable {
    let executable: String
    let timeout: Double

    static let memoryLimit = 512 << 20
    static let maxOutputBytes = 64 << 20

    struct Failure: Error, CustomStringConvertible {
        let description: String
    }

    /// Whether these bytes are an SVG document: `<svg` within the first
    /// kilobyte (after a prologue, comments or a doctype).
    static func looksLikeSVG(_ body: [UInt8], contentType: String?) -> Bool {
        if contentType?.lowercased().hasPrefix("image/svg") == true { return true }
        return String(decoding: body.prefix(1024), as: UTF8.self).lowercased().contains("<svg")
    }

    func rasterize(_ svg: [UInt8]) -> Result<[UInt8], Failure> {
        let limits = BoundedChild.Limits(memory: Self.memoryLimit, timeout: timeout, maxOutputBytes: Self.maxOutputBytes)
        // stdin, not the file's path: without a base file librsvg resolves
        // no reference (the temporary directory holds other requests' files).
        let ran = BoundedChild.run("svg", input: svg, limits: limits) { path in
            // No gdk-pixbuf loaders: an <image href="data:…"> inside the SVG
            // is not decoded (it would reach libjpeg, libpng, libheif… past
            // image.decode's switches); it is left out of the picture.
            ["/bin/sh", "-c", "GDK_PIXBUF_MODULE_FILE=/dev/null GDK_PIXBUF_MODULEDIR=/nonexistent exec \"$0\" --format png < \"$1\"",
             executable, path]
        }
        switch ran {
        case .failure(let failure):
            return .failure(Failure(description: failure.description))
        case .success(let output):
            guard output.count > 8, output.starts(with: [0x89, 0x50, 0x4e, 0x47]) else {
                return .failure(Failure(description: "rsvg-convert gave no PNG"))
            }
            return .success(output)
        }
    }
}
