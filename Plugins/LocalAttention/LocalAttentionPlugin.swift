import OperatorABI
import PluginKit

/// Capabilities all three operators share.
private let capabilities = UInt32(OZ_CAP_BACKWARD | OZ_CAP_DETERMINISTIC | OZ_CAP_REENTRANT | OZ_CAP_FLOAT64)

nonisolated(unsafe) private let table = makePlugin(
    name: "OZLocalAttention", version: "1.0.0", license: "MIT",
    description:
        "Local and linear attention token mixers: 1D sliding-window (flash-attn), 2D neighbourhood, linear (elu + 1)",
    operators: [
        OperatorDefinition(
            id: "swa", version: "1.0.0",
            summary:
                "flash-attn MHA with window_size=(left, right): softmax attention over keys i-left <= j <= i+right of the 1D token order",
            role: .tokenMixer, capabilities: capabilities | UInt32(OZ_CAP_SAVE_FOR_BACKWARD),
            attributes: [
                AttributeSpec(
                    "num_heads", default: .int(16), doc: "attention heads; must divide D (grafting: 16)",
                    intRange: 1...4096),
                AttributeSpec(
                    "window_size", default: .intList([4, 4]),
                    doc:
                        "(left, right): query i sees keys i-left ... i+right; -1 = unbounded on that side (grafting: (4, 4))",
                    intRange: -1...Int64(Int32.max), listLength: 2),
                AttributeSpec(
                    "causal", default: .bool(false), doc: "also mask keys after the query (right = 0; grafting: false)"),
                AttributeSpec("qkv_proj_bias", default: .bool(true), doc: "bias on Wqkv (grafting: true)"),
                AttributeSpec("out_proj_bias", default: .bool(true), doc: "bias on out_proj (grafting: true)"),
            ],
            kernel: SlidingWindowAttentionKernel.self),
        OperatorDefinition(
            id: "swa2d", version: "1.0.0",
            summary:
                "2D neighbourhood attention (NATTEN shift or clipped window) on the H x W token grid, timm qkv/proj",
            role: .tokenMixer, capabilities: capabilities | UInt32(OZ_CAP_NEEDS_GRID | OZ_CAP_SAVE_FOR_BACKWARD),
            attributes: [
                AttributeSpec(
                    "num_heads", default: .int(16), doc: "attention heads; must divide D", intRange: 1...4096),
                AttributeSpec(
                    "kernel_size", default: .intList([7, 7]),
                    doc: "(kh, kw) window on the grid, odd (NATTEN kernel_size); clamped to the grid where larger",
                    intRange: 1...Int64(Int32.max), listLength: 2),
                AttributeSpec(
                    "border", default: .string("shift"),
                    doc: "shift: NATTEN, the window moves inward at the border (always kh*kw keys); clip: it shrinks",
                    choices: ["shift", "clip"]),
            ],
            complexity: .linear, kernel: NeighborhoodAttentionKernel.self),
        OperatorDefinition(
            id: "linear_attn", version: "1.0.0",
            summary:
                "fast-transformers LinearAttention (Katharopoulos et al. 2020), non-causal, phi = elu + 1, eps 1e-6",
            role: .tokenMixer, capabilities: capabilities | UInt32(OZ_CAP_SAVE_FOR_BACKWARD),
            attributes: [
                AttributeSpec("num_heads", default: .int(16), doc: "attention heads; must divide D", intRange: 1...4096)
            ],
            complexity: .linear, kernel: LinearAttentionKernel.self),
    ])

/// The plugin's entry point (the ABI's one exported symbol).
@c(oz_plugin_entry)
public func ozPluginEntry() -> UnsafePointer<oz_plugin>? { table }
