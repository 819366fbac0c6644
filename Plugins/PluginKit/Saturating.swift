/// `a * b * ...` for workspace sizes, giving `Int.max` instead of trapping when the product overflows (the host
/// then refuses the size with a message; a trap would cross the ABI boundary).
public func saturatingProduct(_ factors: Int...) -> Int {
    var product = 1
    for f in factors {
        let (p, overflow) = product.multipliedReportingOverflow(by: f)
        if overflow { return Int.max }
        product = p
    }
    return product
}

/// `a + b + ...` for workspace sizes, giving `Int.max` instead of trapping when the sum overflows.
public func saturatingSum(_ terms: Int...) -> Int {
    var sum = 0
    for t in terms {
        let (s, overflow) = sum.addingReportingOverflow(t)
        if overflow { return Int.max }
        sum = s
    }
    return sum
}
