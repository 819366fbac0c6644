import Foundation
import HostCore

/// How closely two images (or batches) agree pixel for pixel: peak signal-to-noise ratio for images in
/// [−1, 1] (data range 2).
///
///     PSNR = 10 log10(range² / MSE) = 10 log10(4 / MSE),   MSE = mean over all elements of (a − b)²
///
/// The MSE is accumulated in float64. Identical inputs (MSE = 0) give `+infinity`.
public enum ImageAgreement {
    /// The data range of images in [−1, 1].
    public static let dataRange = 2.0

    /// PSNR in dB over all elements of `a` and `b` (MSE pooled over the whole tensor).
    /// - Precondition: `a.shape == b.shape` and the tensors are not empty.
    public static func psnr(_ a: Tensor<Float>, _ b: Tensor<Float>) -> Double {
        precondition(a.shape == b.shape, "PSNR of tensors with shapes \(a.shape) and \(b.shape)")
        precondition(a.count > 0, "PSNR of empty tensors")
        return psnr(mse: meanSquaredError(a, b, range: 0..<a.count))
    }

    /// The PSNR of each image of two `[N, ...]` batches (axis 0 indexes images).
    /// - Precondition: equal shapes of rank at least 1 with non-empty images.
    public static func perImagePSNR(_ a: Tensor<Float>, _ b: Tensor<Float>) -> [Double] {
        precondition(a.shape == b.shape, "PSNR of tensors with shapes \(a.shape) and \(b.shape)")
        precondition(
            a.rank >= 1 && a.shape[0] > 0 && a.count > 0,
            "per-image PSNR needs a non-empty [N, ...] batch (found \(a.shape))")
        let n = a.shape[0]
        let size = a.count / n
        return (0..<n).map { psnr(mse: meanSquaredError(a, b, range: ($0 * size)..<(($0 + 1) * size))) }
    }

    /// The mean of ``perImagePSNR(_:_:)`` in dB (the usual "average PSNR" of a test set). It is `+infinity`
    /// when any pair of images is identical; use ``perImagePSNR(_:_:)`` to treat those separately.
    /// - Precondition: as ``perImagePSNR(_:_:)``.
    public static func meanPSNR(_ a: Tensor<Float>, _ b: Tensor<Float>) -> Double {
        let values = perImagePSNR(a, b)
        return values.reduce(0, +) / Double(values.count)
    }

    /// `10 log10(4 / mse)`; `+infinity` for `mse == 0`.
    public static func psnr(mse: Double) -> Double {
        mse == 0 ? .infinity : 10 * log10(dataRange * dataRange / mse)
    }

    private static func meanSquaredError(_ a: Tensor<Float>, _ b: Tensor<Float>, range: Range<Int>) -> Double {
        a.withUnsafeBufferPointer { a in
            b.withUnsafeBufferPointer { b in
                var sum = 0.0
                for i in range {
                    let d = Double(a[i]) - Double(b[i])
                    sum += d * d
                }
                return sum / Double(range.count)
            }
        }
    }
}
