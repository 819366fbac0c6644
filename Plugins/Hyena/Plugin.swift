import OperatorABI
import PluginKit

/// Every Hyena operator computes in float32 and float64, has a backward (from the tensors a train-mode forward saved,
/// ABI 1.4, or recomputing them), and is deterministic and re-entrant.
private let capabilities = UInt32(
    OZ_CAP_BACKWARD | OZ_CAP_DETERMINISTIC | OZ_CAP_REENTRANT | OZ_CAP_FLOAT64 | OZ_CAP_SAVE_FOR_BACKWARD)

nonisolated(unsafe) private let table = makePlugin(
    name: "OZHyena", version: "1.0.0", license: "MIT",
    description:
        "The grafting Hyena gated convolutions (Hyena-X, Hyena-SE, Hyena-Y), the Hyena-X convolutional MLP, and the original Hyena operator (FFT long convolutions through KISS FFT)",
    operators: [
        OperatorDefinition(
            id: "hyena_x", version: "1.0.0",
            summary:
                "grafting Hyena_X (hyena_x.py): y = out_proj(q * k * v), [q,k,v] = causal short conv of in_proj(x)",
            role: .tokenMixer, capabilities: capabilities, attributes: HyenaAttributes.hyenaX,
            complexity: .linear, kernel: HyenaMixerKernel<HyenaXTag>.self),
        OperatorDefinition(
            id: "hyena_se", version: "1.0.0",
            summary: "grafting Hyena_SE (hyena_se.py): y = out_proj(q * CC(k * v; inner_filter)) after the short conv",
            role: .tokenMixer, capabilities: capabilities, attributes: HyenaAttributes.hyenaSE,
            complexity: .linear, kernel: HyenaMixerKernel<HyenaSETag>.self),
        OperatorDefinition(
            id: "hyena_y", version: "1.0.0",
            summary: "grafting Hyena_Y (hyena_y.py): y = out_proj(q * CC(k * v; inner_filter)), [q,k,v] = in_proj(x)",
            role: .tokenMixer, capabilities: capabilities, attributes: HyenaAttributes.hyenaY,
            complexity: .linear, kernel: HyenaMixerKernel<HyenaYTag>.self),
        OperatorDefinition(
            id: "mlp_hyena_x", version: "1.0.0",
            summary:
                "grafting MLP_Hyena_X (mlp_hyena_x.py): in_proj, causal conv along features per token, q*k*v, out_proj",
            role: .channelMixer, capabilities: capabilities, attributes: HyenaAttributes.mlpHyenaX,
            complexity: .linear, kernel: MLPHyenaXKernel.self),
        OperatorDefinition(
            id: "hyena", version: "1.0.0",
            summary:
                "safari HyenaOperator (hyena.py): implicit long filters (pos. embedding -> Sin MLP -> exp. modulation), causal FFT long convs (KISS FFT), order-N gating",
            role: .tokenMixer, capabilities: capabilities, attributes: HyenaOperatorAttributes.schema,
            complexity: .linearithmic, kernel: HyenaKernel.self),
    ])

/// The plugin's entry point (the ABI's one exported symbol).
@c(oz_plugin_entry)
public func ozPluginEntry() -> UnsafePointer<oz_plugin>? { table }
