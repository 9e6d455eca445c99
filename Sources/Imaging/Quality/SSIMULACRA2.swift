import Foundation

/// SSIMULACRA 2.1 (Jon Sneyers, Cloudinary, 2022–2023): a perceptual score
/// of a distorted image against its original, -∞…100 (100: identical;
/// 90: not told apart in a flicker test at 1:1; 80: not told apart side by
/// side at 1:1 from a normal distance; 70: artifacts hard to notice without
/// the original; 50: fair, slightly annoying).
///
/// Written from the published algorithm (libjxl's tools/ssimulacra2.cc and
/// its standalone copy, cloudinary/ssimulacra2): both images in XYB
/// (rescaled to about 0…1, with B−Y), at 6 scales (1:1 to 1:32, downscaled
/// in linear light), three error maps per component and scale (1 − SSIM
/// without its luminance denominator; ringing: edges in the distorted image
/// where the original is smooth; blurring: the reverse), each reduced to
/// its 1-norm and 4-norm, and a weighted sum of those 108 numbers mapped to
/// the score. The blur is the same recursive Gaussian (σ 1.5, Charalampidis
/// 2016) with zero padding, in 32-bit floats as there. Validated against
/// the reference build on the corpus (Tests/ImagingTests/SSIMULACRA2Tests,
/// `make bench-quality`).
public enum SSIMULACRA2 {
    /// The score, or nil when the sizes differ or an image is under 8×8.
    /// With alpha in the original, the worse of the two scores over a dark
    /// and a bright background (as the reference tool does).
    public static func score(original: RasterImage, distorted: RasterImage) -> Double? {
        guard original.width == distorted.width, original.height == distorted.height,
              original.width >= 8, original.height >= 8 else { return nil }
        let score: Double
        if original.hasAlpha {
            let dark = compute(original, distorted, background: 0.1)
            let bright = compute(original, distorted, background: 0.9)
            score = min(dark.score, bright.score)
        } else {
            score = compute(original, distorted, background: 0.5).score
        }
        // A NaN (it should not happen) is no score, never a perfect one.
        return score.isFinite ? score : nil
    }

    /// Bytes a score of a `width` × `height` image holds at its peak
    /// (planes in linear light and XYB, the SSIM and edge maps per scale),
    /// measured ~95 per pixel; for the optimizer's memory reservation.
    public static func peakBytes(width: Int, height: Int) -> Int {
        width * height * 110
    }

    // MARK: - Planes

    /// Three float planes of one size.
    struct Planes {
        var width: Int
        var height: Int
        var data: [[Float]]

        init(width: Int, height: Int) {
            self.width = width
            self.height = height
            data = Array(repeating: [Float](repeating: 0, count: width * height), count: 3)
        }
    }

    /// Linear sRGB in 0…1, alpha blended over `background` in the encoded
    /// values first (as the reference blends before its colour transform).
    static func linear(_ image: RasterImage, background: Float) -> Planes {
        var planes = Planes(width: image.width, height: image.height)
        let count = image.width * image.height
        var table = [Float](repeating: 0, count: 256)
        for value in 0..<256 { table[value] = Float(value) / 255 }
        image.pixels.withUnsafeBufferPointer { pixels in
            for channel in 0..<3 {
                planes.data[channel].withUnsafeMutableBufferPointer { plane in
                    for index in 0..<count {
                        var value = table[Int(pixels[index * image.channels + channel])]
                        if image.channels == 4 {
                            let alpha = table[Int(pixels[index * 4 + 3])]
                            value = alpha * value + (1 - alpha) * background
                        }
                        plane[index] = value <= 0.04045 ? value / 12.92 : Float(pow(Double((value + 0.055) / 1.055), 2.4))
                    }
                }
            }
        }
        return planes
    }

    /// 2×2 box average in linear light; the last row and column repeat.
    static func downsample(_ input: Planes) -> Planes {
        let width = (input.width + 1) / 2, height = (input.height + 1) / 2
        var output = Planes(width: width, height: height)
        for channel in 0..<3 {
            input.data[channel].withUnsafeBufferPointer { source in
                output.data[channel].withUnsafeMutableBufferPointer { target in
                    for y in 0..<height {
                        for x in 0..<width {
                            var sum: Float = 0
                            for dy in 0..<2 {
                                for dx in 0..<2 {
                                    let sx = min(x * 2 + dx, input.width - 1), sy = min(y * 2 + dy, input.height - 1)
                                    sum += source[sy * input.width + sx]
                                }
                            }
                            target[y * width + x] = sum * 0.25
                        }
                    }
                }
            }
        }
        return output
    }

    /// Linear sRGB → XYB (the opsin absorbance of JPEG XL: a mix, a bias,
    /// a cube root), then rescaled to about 0…1 with B−Y.
    static func positiveXYB(_ linear: Planes) -> Planes {
        let m: [Float] = [0.30, 0.622, 0.078,
                          0.23, 0.692, 0.078,
                          0.24342268924547819, 0.20476744424496821, 1 - 0.24342268924547819 - 0.20476744424496821]
        let bias: Float = 0.0037930732552754493
        let biasRoot = cbrtf(bias)
        var output = Planes(width: linear.width, height: linear.height)
        let count = linear.width * linear.height
        for index in 0..<count {
            let r = linear.data[0][index], g = linear.data[1][index], b = linear.data[2][index]
            let mixed0 = max(0, m[0] * r + m[1] * g + m[2] * b + bias)
            let mixed1 = max(0, m[3] * r + m[4] * g + m[5] * b + bias)
            let mixed2 = max(0, m[6] * r + m[7] * g + m[8] * b + bias)
            let l = cbrtf(mixed0) - biasRoot, mm = cbrtf(mixed1) - biasRoot, s = cbrtf(mixed2) - biasRoot
            let x = 0.5 * (l - mm), y = 0.5 * (l + mm)
            output.data[0][index] = x * 14 + 0.42
            output.data[1][index] = y + 0.01
            output.data[2][index] = (s - y) + 0.55
        }
        return output
    }

    // MARK: - The recursive Gaussian (σ 1.5)

    /// The IIR filter's constants for σ: three second-order sections whose
    /// sum approximates the Gaussian (Charalampidis, "Recursive
    /// Implementation of the Gaussian Filter Using Truncated Cosine
    /// Functions", 2016; the equation numbers are the paper's).
    struct RecursiveGaussian {
        let radius: Int
        let n2: [Float]
        let d1: [Float]

        init(sigma: Double) {
            let radius = (3.2795 * sigma + 0.2546).rounded()  // (57)
            let piDiv2r = Double.pi / (2 * radius)
            let omega = [piDiv2r, 3 * piDiv2r, 5 * piDiv2r]
            let p1 = 1 / tan(0.5 * omega[0]), p3 = -1 / tan(0.5 * omega[1]), p5 = 1 / tan(0.5 * omega[2])  // (37)
            let r1 = p1 * p1 / sin(omega[0]), r3 = -p3 * p3 / sin(omega[1]), r5 = p5 * p5 / sin(omega[2])  // (44)
            let rho = omega.map { exp(-0.5 * sigma * sigma * $0 * $0) / radius }  // (50)
            let d13 = p1 * r3 - r1 * p3, d35 = p3 * r5 - r3 * p5, d51 = p5 * r1 - r5 * p1  // (52)
            let zeta15 = d35 / d13, zeta35 = d51 / d13
            let a = [p1, p3, p5, r1, r3, r5, zeta15, zeta35, 1.0]  // (56)
            let gamma = [1, radius * radius - sigma * sigma, zeta15 * rho[0] + zeta35 * rho[1] + rho[2]]  // (55)
            let beta = Self.solve3x3(a, gamma)  // (53)
            self.radius = Int(radius)
            n2 = (0..<3).map { Float(-beta[$0] * cos(omega[$0] * (radius + 1))) }  // (33)
            d1 = (0..<3).map { Float(-2 * cos(omega[$0])) }
        }

        /// x with a·x = b, for a 3×3 matrix by rows.
        static func solve3x3(_ a: [Double], _ b: [Double]) -> [Double] {
            let det = a[0] * (a[4] * a[8] - a[5] * a[7]) - a[1] * (a[3] * a[8] - a[5] * a[6]) + a[2] * (a[3] * a[7] - a[4] * a[6])
            let inverse = [
                (a[4] * a[8] - a[5] * a[7]) / det, (a[2] * a[7] - a[1] * a[8]) / det, (a[1] * a[5] - a[2] * a[4]) / det,
                (a[5] * a[6] - a[3] * a[8]) / det, (a[0] * a[8] - a[2] * a[6]) / det, (a[2] * a[3] - a[0] * a[5]) / det,
                (a[3] * a[7] - a[4] * a[6]) / det, (a[1] * a[6] - a[0] * a[7]) / det, (a[0] * a[4] - a[1] * a[3]) / det,
            ]
            return (0..<3).map { row in (0..<3).reduce(0) { $0 + inverse[row * 3 + $1] * b[$1] } }
        }

        /// One pass over `count` samples `stride` apart: output n is the sum
        /// of three sections, each fed input n−N−1 plus input n+N−1 (zero
        /// outside) and its own two previous outputs.
        func pass(_ input: UnsafePointer<Float>, _ output: UnsafeMutablePointer<Float>, count: Int, stride: Int) {
            let n = radius
            var prev: (Float, Float, Float) = (0, 0, 0)
            var prev2: (Float, Float, Float) = (0, 0, 0)
            for position in (-n + 1)..<count {
                let left = position - n - 1, right = position + n - 1
                let sum = (left >= 0 ? input[left * stride] : 0) + (right < count ? input[right * stride] : 0)
                let y1 = n2[0] * sum - d1[0] * prev.0 - prev2.0
                let y3 = n2[1] * sum - d1[1] * prev.1 - prev2.1
                let y5 = n2[2] * sum - d1[2] * prev.2 - prev2.2
                prev2 = prev
                prev = (y1, y3, y5)
                if position >= 0 { output[position * stride] = y1 + y3 + y5 }
            }
        }

        /// Rows, then columns.
        func blur(_ plane: [Float], width: Int, height: Int) -> [Float] {
            var temporary = [Float](repeating: 0, count: plane.count)
            var output = [Float](repeating: 0, count: plane.count)
            plane.withUnsafeBufferPointer { source in
                temporary.withUnsafeMutableBufferPointer { target in
                    for y in 0..<height {
                        pass(source.baseAddress! + y * width, target.baseAddress! + y * width, count: width, stride: 1)
                    }
                }
            }
            temporary.withUnsafeBufferPointer { source in
                output.withUnsafeMutableBufferPointer { target in
                    for x in 0..<width {
                        pass(source.baseAddress! + x, target.baseAddress! + x, count: height, stride: width)
                    }
                }
            }
            return output
        }
    }

    // MARK: - The score

    /// Per scale: for X, Y and B, the SSIM map's 1- and 4-norms and the
    /// ringing and blurring maps' 1- and 4-norms.
    struct Scale {
        var ssim = [Double](repeating: 0, count: 6)
        var edge = [Double](repeating: 0, count: 12)
    }

    struct Result {
        var scales: [Scale]

        /// The 108 weights, in the order the loop below visits them
        /// (component, scale, norm; SSIM, ringing, blurring), and the final
        /// mapping, as published.
        static let weights: [Double] = [
            0.0, 0.0007376606707406586, 0.0, 0.0, 0.0007793481682867309, 0.0, 0.0, 0.0004371155730107379, 0.0,
            1.1041726426657346, 0.00066284834129271, 0.00015231632783718752, 0.0, 0.0016406437456599754, 0.0,
            1.8422455520539298, 11.441172603757666, 0.0, 0.0007989109436015163, 0.000176816438078653, 0.0,
            1.8787594979546387, 10.94906990605142, 0.0, 0.0007289346991508072, 0.9677937080626833, 0.0,
            0.00014003424285435884, 0.9981766977854967, 0.00031949755934435053, 0.0004550992113792063, 0.0, 0.0,
            0.0013648766163243398, 0.0, 0.0, 0.0, 0.0, 0.0, 7.466890328078848, 0.0, 17.445833984131262,
            0.0006235601634041466, 0.0, 0.0, 6.683678146179332, 0.00037724407979611296, 1.027889937768264,
            225.20515300849274, 0.0, 0.0, 19.213238186143016, 0.0011401524586618361, 0.001237755635509985,
            176.39317598450694, 0.0, 0.0, 24.43300999870476, 0.28520802612117757, 0.0004485436923833408, 0.0, 0.0,
            0.0, 34.77906344483772, 44.835625328877896, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0008680556573291698,
            0.0, 0.0, 0.0, 0.0, 0.0, 0.0005313191874358747, 0.0, 0.00016533814161379112, 0.0, 0.0, 0.0, 0.0, 0.0,
            0.0004179171803251336, 0.0017290828234722833, 0.0, 0.0020827005846636437, 0.0, 0.0, 8.826982764996862,
            23.19243343998926, 0.0, 95.1080498811086, 0.9863978034400682, 0.9834382792465353, 0.0012286405048278493,
            171.2667255897307, 0.9807858872435379, 0.0, 0.0, 0.0, 0.0005130064588990679, 0.0, 0.00010854057858411537,
        ]

        var score: Double {
            var sum = 0.0
            var index = 0
            // As the reference counts: an image too small for all 6 scales
            // takes the weights in order all the same.
            for component in 0..<3 {
                for scale in scales {
                    for norm in 0..<2 {
                        sum += Self.weights[index] * abs(scale.ssim[component * 2 + norm])
                        sum += Self.weights[index + 1] * abs(scale.edge[component * 4 + norm])
                        sum += Self.weights[index + 2] * abs(scale.edge[component * 4 + norm + 2])
                        index += 3
                    }
                }
            }
            sum *= 0.9562382616834844
            sum = 2.326765642916932 * sum - 0.020884521182843837 * sum * sum + 6.248496625763138e-05 * sum * sum * sum
            return sum > 0 ? 100 - 10 * pow(sum, 0.6276336467831387) : 100
        }
    }

    static func compute(_ original: RasterImage, _ distorted: RasterImage, background: Float) -> Result {
        let gaussian = RecursiveGaussian(sigma: 1.5)
        var linear1 = linear(original, background: background)
        var linear2 = linear(distorted, background: background)
        var scales: [Scale] = []
        for scale in 0..<6 {
            // As the reference: the previous scale's size decides whether
            // there is another (so the last one may be under 8 pixels).
            if linear1.width < 8 || linear1.height < 8 { break }
            if scale > 0 {
                linear1 = downsample(linear1)
                linear2 = downsample(linear2)
            }
            let width = linear1.width, height = linear1.height
            let image1 = positiveXYB(linear1), image2 = positiveXYB(linear2)
            var result = Scale()
            let pixels = Double(width * height)
            for channel in 0..<3 {
                let a = image1.data[channel], b = image2.data[channel]
                let count = a.count
                var aa = [Float](repeating: 0, count: count), bb = aa, ab = aa
                for index in 0..<count {
                    aa[index] = a[index] * a[index]
                    bb[index] = b[index] * b[index]
                    ab[index] = a[index] * b[index]
                }
                let sigma11 = gaussian.blur(aa, width: width, height: height)
                let sigma22 = gaussian.blur(bb, width: width, height: height)
                let sigma12 = gaussian.blur(ab, width: width, height: height)
                let mu1 = gaussian.blur(a, width: width, height: height)
                let mu2 = gaussian.blur(b, width: width, height: height)
                var ssim1 = 0.0, ssim4 = 0.0
                var ringing1 = 0.0, ringing4 = 0.0, blurring1 = 0.0, blurring4 = 0.0
                for index in 0..<count {
                    let m1 = mu1[index], m2 = mu2[index]
                    let numM: Float = 1.0 - (m1 - m2) * (m1 - m2)
                    let numS: Float = 2 * (sigma12[index] - m1 * m2) + 0.0009
                    let denomS: Float = (sigma11[index] - m1 * m1) + (sigma22[index] - m2 * m2) + 0.0009
                    let d = max(1.0 - Double(numM * numS / denomS), 0)
                    ssim1 += d
                    ssim4 += d * d * d * d
                    let edge = (1.0 + Double(abs(b[index] - m2))) / (1.0 + Double(abs(a[index] - m1))) - 1.0
                    let artifact = max(edge, 0), detailLost = max(-edge, 0)
                    ringing1 += artifact
                    ringing4 += artifact * artifact * artifact * artifact
                    blurring1 += detailLost
                    blurring4 += detailLost * detailLost * detailLost * detailLost
                }
                result.ssim[channel * 2] = ssim1 / pixels
                result.ssim[channel * 2 + 1] = sqrt(sqrt(ssim4 / pixels))
                result.edge[channel * 4] = ringing1 / pixels
                result.edge[channel * 4 + 1] = sqrt(sqrt(ringing4 / pixels))
                result.edge[channel * 4 + 2] = blurring1 / pixels
                result.edge[channel * 4 + 3] = sqrt(sqrt(blurring4 / pixels))
            }
            scales.append(result)
        }
        return Result(scales: scales)
    }
}
