/// One instance of a `cfunction` operator: what create resolved (attribute values, the sizes the
/// expressions see, parameter shapes, the receptive field). Immutable, so calls may share it across threads.
final class CFunctionInstance: @unchecked Sendable {
    /// Model width D.
    let dim: Int
    /// The token grid (H, W), when given.
    let grid: (height: Int, width: Int)?
    /// Every attribute's value, by name (defaults filled in, validated).
    let attributes: [String: AttributeValue]
    /// `D`, `H`, `W` and every int attribute: the names parameter shapes and bounds may use.
    let sizes: [String: Int64]
    /// The evaluated shape of each parameter, in the spec's order.
    let parameterShapes: [[Int]]
    /// The evaluated receptive field (`nil` side: unbounded), when declared.
    let receptiveField: (left: Int64?, right: Int64?)?

    init(
        dim: Int, grid: (height: Int, width: Int)?, attributes: [String: AttributeValue], sizes: [String: Int64],
        parameterShapes: [[Int]], receptiveField: (left: Int64?, right: Int64?)?
    ) {
        self.dim = dim
        self.grid = grid
        self.attributes = attributes
        self.sizes = sizes
        self.parameterShapes = parameterShapes
        self.receptiveField = receptiveField
    }
}
