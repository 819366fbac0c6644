import OperatorABI
import PluginKit

/// Every Mamba-2 operator computes in float32 and float64, has a backward, and is deterministic and re-entrant.
private let capabilities = UInt32(
    OZ_CAP_BACKWARD | OZ_CAP_DETERMINISTIC | OZ_CAP_REENTRANT | OZ_CAP_FLOAT64 | OZ_CAP_SAVE_FOR_BACKWARD)

nonisolated(unsafe) private let table = makePlugin(
    name: "OZMamba2", version: "1.0.0", license: "MIT",
    description: "Mamba-2 (chunked SSD) token mixers: upstream Mamba2 (causal), bidirectional, and a 2D cross-scan",
    operators: [
        OperatorDefinition(
            id: "mamba2", version: "1.0.0",
            summary:
                "state-spaces/mamba Mamba2: in_proj, causal conv1d + silu, SSD scan (chunked), D skip, gated RMSNorm, out_proj",
            role: .tokenMixer, capabilities: capabilities, attributes: Mamba2Attributes.all,
            complexity: .linear, kernel: Mamba2Kernel<Mamba2CausalTag>.self),
        OperatorDefinition(
            id: "mamba2_bidir", version: "1.0.0",
            summary:
                "Mamba2 with a forward and a reversed scan (own conv1d, dt_bias, A_log, D as fwd./bwd.), summed before the gated norm",
            role: .tokenMixer, capabilities: capabilities, attributes: Mamba2Attributes.all,
            complexity: .linear, kernel: Mamba2Kernel<Mamba2BidirectionalTag>.self),
        OperatorDefinition(
            id: "mamba2_2d", version: "1.0.0",
            summary:
                "Mamba2 with row-major and column-major scans of the H x W grid, each forward and reversed (row_fwd., row_bwd., col_fwd., col_bwd.), summed",
            role: .tokenMixer, capabilities: capabilities | UInt32(OZ_CAP_NEEDS_GRID), attributes: Mamba2Attributes.all,
            complexity: .linear, kernel: Mamba2Kernel<Mamba2GridTag>.self),
    ])

/// The plugin's entry point (the ABI's one exported symbol).
@c(oz_plugin_entry)
public func ozPluginEntry() -> UnsafePointer<oz_plugin>? { table }
