/// Overflow-safe shape arithmetic for shapes read from files (which must never trap the process).
/// Also used by ``Tensor`` for caller-given shapes.
enum ShapeArithmetic {
    /// The product of `shape`, or `nil` if an extent is negative or the product overflows `Int`.
    static func elementCount(_ shape: [Int]) -> Int? {
        var count = 1
        for extent in shape {
            guard extent >= 0 else { return nil }
            let (product, overflow) = count.multipliedReportingOverflow(by: extent)
            if overflow { return nil }
            count = product
        }
        return count
    }

    /// `count × itemSize`, or `nil` on overflow.
    static func byteCount(elements count: Int, itemSize: Int) -> Int? {
        let (bytes, overflow) = count.multipliedReportingOverflow(by: itemSize)
        return overflow ? nil : bytes
    }
}
