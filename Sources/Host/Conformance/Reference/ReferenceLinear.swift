// The one building block every float64 reference shares: a PyTorch Linear applied to one token, as plain loops.

/// `Lin(x) = x W^T + b` for one token `x` (a slice of `in` values); `w` is PyTorch's `(out, in)`, row-major.
func linearRow(_ x: ArraySlice<Double>, _ w: [Double], _ b: [Double]?, out: Int) -> [Double] {
    let inFeatures = x.count
    var y = [Double](repeating: 0, count: out)
    for o in 0..<out {
        var s = b?[o] ?? 0
        for i in 0..<inFeatures { s += w[o * inFeatures + i] * x[x.startIndex + i] }
        y[o] = s
    }
    return y
}
