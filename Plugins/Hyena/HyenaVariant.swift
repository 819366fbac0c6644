/// Which of the three grafting Hyena token mixers a ``HyenaMixerKernel`` computes (docs/OPERATORS.md section 6).
enum HyenaVariant: Sendable {
    /// Hyena-X: `[q,k,v] = split(CC(Lin_in(x); short))`, `y = Lin_out(q * (k * v))`.
    case x
    /// Hyena-SE: `[q,k,v] = split(CC(Lin_in(x); short))`, `y = Lin_out(q * CC(k * v; inner))`.
    case se
    /// Hyena-Y: `[q,k,v] = split(Lin_in(x))`, `y = Lin_out(q * CC(k * v; inner))`.
    case y

    /// The featurizer conv `short_filter` over all `3D` projected channels (X and SE).
    var hasShortFilter: Bool { self != .y }
    /// The conv `inner_filter` over the `D` channels of `k * v` (SE and Y).
    var hasInnerFilter: Bool { self != .x }
}

/// A type-level ``HyenaVariant``, so that each operator gets its own kernel type (PluginKit creates kernels from
/// their type and the attributes alone).
protocol HyenaVariantTag {
    static var variant: HyenaVariant { get }
}

/// Tag of `hyena_x`.
enum HyenaXTag: HyenaVariantTag {
    static var variant: HyenaVariant { .x }
}

/// Tag of `hyena_se`.
enum HyenaSETag: HyenaVariantTag {
    static var variant: HyenaVariant { .se }
}

/// Tag of `hyena_y`.
enum HyenaYTag: HyenaVariantTag {
    static var variant: HyenaVariant { .y }
}
