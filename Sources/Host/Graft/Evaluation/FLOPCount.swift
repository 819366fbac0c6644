/// Multiply-add FLOPs of one DiT forward pass for one image, counting a multiply-add as 2 FLOPs.
///
/// Only matrix products are counted (the convention of the DiT paper's Gflops and of fvcore): linear layers,
/// the patch-embedding convolution and the attention products. Biases, LayerNorm, adaLN `modulate`/gates,
/// activations, softmax, the sinusoidal embeddings and the label lookup are elementwise or lookups and are
/// left out; for DiT-XL/2 they are well under 1% of the total. With T tokens, width D, C input channels,
/// patch p and C' output channels:
///
/// - **built-in** (``builtIn(config:)``): patch embedding `2 T (C p²) D`; timestep MLP `2 (256 D + D²)`;
///   adaLN modulation `2 D (6D)` per block and `2 D (2D)` in the final layer (once per image, not per
///   token); final linear `2 T D (p² C')`.
/// - **slots** (``slot(id:attributes:tokens:dim:grid:)``), from the operator id and its attributes:
///   - `mha`: qkv `2 T D (3D)`, output projection `2 T D D`, scores `Q Kᵀ` and weighted sum `P V`
///     `2 · 2 T T D` (heads split D, so the head count drops out); with `causal = true` query i sees i + 1
///     keys, so `2 · 2 D T(T+1)/2`.
///   - `mlp`: `2 · 2 T D H`, `H = Int(D · expansion_ratio)` (timm's `int(dim * mlp_ratio)`).
///   - `swa`: projections as `mha`; attention `2 · 2 T W D` with `W = min(T, left + right + 1)` the keys in
///     a full window, `window_size = [left, right]`, −1 meaning unbounded (T keys on that side), `causal`
///     forcing right = 0. Border queries see fewer keys, so this is the full-window count, an upper bound
///     by at most `left(left+1)/2 + right(right+1)/2` keys per head dimension.
///   - `swa2d`: projections as `mha`; attention `2 · 2 T K D` with `K` the keys each query sees. With
///     `kernel_size = [KH, KW]` clamped to the grid, `border = shift` (NATTEN) gives exactly
///     `K = KH · KW` for every query; `border = clip` counts exactly the in-grid neighbours
///     `|r − r'| ≤ ⌊KH/2⌋, |c − c'| ≤ ⌊KW/2⌋` summed over queries.
///   - `linear_attn` (Katharopoulos et al., per head of width `dh = D / num_heads`): projections as `mha`;
///     `φ(K)ᵀ V` is `2 T dh²` per head and `φ(Q) (φ(K)ᵀ V)` another `2 T dh²`, so `2 · 2 T D dh` over the
///     heads; the normaliser `φ(Q) · Σ_t φ(K_t)` adds `2 T D` (the sum itself is additions only).
///   - `hyena_x`, `hyena_se`, `hyena_y` (grafting's gated convolutions): projections as `mha` (in_proj `D -> 3D`,
///     out_proj `D -> D`); each causal depthwise convolution counts one multiply-add per tap, channel and token:
///     the short filter `2 T (3D) k` (X, SE; `k = short_filter_order`), the inner filter `2 T D k` (SE, whose
///     inner filter upstream builds with `short_filter_order` taps) or `2 T D k_in` (Y, `k_in = inner_filter_len`).
///     The gates `q * k * v` are elementwise and not counted.
///   - `mlp_hyena_x` (`H = Int(D · expansion_ratio)`): in_proj `2 T D (3H)`, out_proj `2 T H D`, the per-token
///     convolution along the features `2 T (3H) k`.
///   - `mamba2`, `mamba2_bidir`, `mamba2_2d` (`d_inner = expand D`, `H = d_inner / headdim` heads of width P,
///     `G` groups, state N, chunk `Q = min(chunk_size, T)`): in_proj `2 T D (2 d_inner + 2GN + H)`, out_proj
///     `2 T d_inner D`, and per scan (1, 2 or 4) the depthwise conv `2 T (d_inner + 2GN) d_conv` plus the chunked
///     SSD's matrix products, per token `2QN` per group (`C Bᵀ` inside the chunk) and `2QP + 2NP + 2NP` per head
///     (the masked scores times `x`, the chunk states and their read-out by `C`).
///   - any other id (`poolformer`, ...): `nil`, not counted.
///
/// For DiT-XL/2 (T = 256, D = 1152, depth 28) this gives 237.243e9 FLOPs, i.e. 118.621e9 multiply-adds (0.02% above)
/// the 118.6 Gflops the DiT paper reports counting one multiply-add as one flop.
public enum FLOPCount {
    /// FLOPs of one forward of `model` for one image: the built-in layers, each slot by its `blocks.{i}.attn` /
    /// `blocks.{i}.mlp` name (`nil` for an operator whose cost is unknown), and the total (`nil` when any slot
    /// is unknown).
    public static func forward(model: DiTModel) -> (total: Int?, builtIn: Int, slots: [String: Int?]) {
        let config = model.config
        let builtIn = builtIn(config: config)
        var slots: [String: Int?] = [:]
        var total: Int? = builtIn
        for slot in model.slots {
            let attributes = Dictionary(slot.op.attributes.map { ($0.name, $0.value) }, uniquingKeysWith: { first, _ in first })
            let count = self.slot(
                id: slot.op.descriptor.id, attributes: attributes, tokens: config.tokenCount, dim: config.hiddenSize,
                grid: (config.gridSize, config.gridSize))
            slots[slot.key.description] = .some(count)
            if let running = total, let count { total = running + count } else { total = nil }
        }
        return (total, builtIn, slots)
    }

    /// FLOPs of DiT's own layers for one image (everything but the slots): patch embedding, timestep MLP,
    /// every block's adaLN modulation, the final layer's modulation and linear.
    public static func builtIn(config: DiTConfig) -> Int {
        let t = config.tokenCount, d = config.hiddenSize, p = config.patchSize
        let patchEmbed = 2 * t * (config.inChannels * p * p) * d
        let timestepMLP = 2 * (DiTEmbeddings.timestepFrequencies * d + d * d)
        let blockModulation = config.depth * 2 * d * (6 * d)
        let finalModulation = 2 * d * (2 * d)
        let finalLinear = 2 * t * d * (p * p * config.outChannels)
        return patchEmbed + timestepMLP + blockModulation + finalModulation + finalLinear
    }

    /// FLOPs of one slot operator over `tokens` tokens of width `dim` for one image, or `nil` when the id's cost
    /// is unknown or an attribute it depends on is missing or malformed (boolean flags default to false).
    /// - Parameters:
    ///   - id: the operator id (`mha`, `mlp`, `swa`, `swa2d`, `linear_attn`, `hyena_x`, `hyena_se`, `hyena_y`,
    ///     `mlp_hyena_x`; others give `nil`).
    ///   - attributes: the instance's attributes (``Operator/attributes`` has the defaults filled in).
    ///   - tokens: T.
    ///   - dim: D.
    ///   - grid: the token grid, for `swa2d`; `nil` takes a square grid `√T x √T` (and gives `nil` when T is
    ///     not a square).
    public static func slot(
        id: String, attributes: [String: AttributeValue], tokens t: Int, dim d: Int, grid: (height: Int, width: Int)? = nil
    ) -> Int? {
        let projections = 2 * t * d * (3 * d) + 2 * t * d * d
        func flag(_ name: String) -> Bool? {
            switch attributes[name] {
            case nil: false
            case .bool(let value)?: value
            default: nil
            }
        }
        /// `Int(D * expansion_ratio)` (timm's `int(dim * mlp_ratio)`), the ratio given as a float or an int.
        func expandedWidth() -> Int? {
            let ratio: Double
            switch attributes["expansion_ratio"] {
            case .float(let value)?: ratio = value
            case .int(let value)?: ratio = Double(value)
            default: return nil
            }
            guard ratio.isFinite, ratio > 0 else { return nil }
            return Int(Double(d) * ratio)
        }
        func pair(_ name: String) -> (Int, Int)? {
            guard case .intList(let values)? = attributes[name], values.count == 2 else { return nil }
            return (Int(values[0]), Int(values[1]))
        }
        switch id {
        case "mha":
            guard let causal = flag("causal") else { return nil }
            let keys = causal ? t * (t + 1) / 2 : t * t
            return projections + 2 * 2 * keys * d
        case "mlp":
            guard let hidden = expandedWidth() else { return nil }
            return 2 * 2 * t * d * hidden
        case "swa":
            guard let (left, right) = pair("window_size"), let causal = flag("causal"), left >= -1, right >= -1 else { return nil }
            let leftKeys = left < 0 ? t : left
            let rightKeys = causal ? 0 : (right < 0 ? t : right)
            let window = min(t, leftKeys + rightKeys + 1)
            return projections + 2 * 2 * t * window * d
        case "swa2d":
            guard let (kh, kw) = pair("kernel_size"), kh >= 1, kw >= 1 else { return nil }
            let size: (height: Int, width: Int)
            if let grid {
                size = grid
            } else {
                let side = Int(Double(t).squareRoot().rounded())
                guard side * side == t else { return nil }
                size = (side, side)
            }
            guard size.height * size.width == t else { return nil }
            let keys: Int
            switch attributes["border"] ?? .string("shift") {
            case .string("shift"):
                keys = t * min(kh, size.height) * min(kw, size.width)
            case .string("clip"):
                // Separable: Σ over queries of (row neighbours) x (column neighbours).
                func neighbours(_ extent: Int, _ k: Int) -> Int {
                    (0..<extent).reduce(0) { $0 + min(extent - 1, $1 + k / 2) - max(0, $1 - k / 2) + 1 }
                }
                keys = neighbours(size.height, kh) * neighbours(size.width, kw)
            default:
                return nil
            }
            return projections + 2 * 2 * keys * d
        case "linear_attn":
            guard case .int(let heads)? = attributes["num_heads"], heads >= 1, d % Int(heads) == 0 else { return nil }
            let headDim = d / Int(heads)
            return projections + 2 * 2 * t * d * headDim + 2 * t * d
        case "hyena_x", "hyena_se", "hyena_y":
            // in_proj D -> 3D and out_proj as `mha`'s projections; causal depthwise convs at one multiply-add per tap.
            func taps(_ name: String) -> Int? {
                guard case .int(let k)? = attributes[name], k >= 1 else { return nil }
                return Int(k)
            }
            switch id {
            case "hyena_x":
                guard let k = taps("short_filter_order") else { return nil }
                return projections + 2 * t * (3 * d) * k
            case "hyena_se":
                // Upstream builds the inner filter with short_filter_order taps as well.
                guard let k = taps("short_filter_order") else { return nil }
                return projections + 2 * t * (3 * d) * k + 2 * t * d * k
            default:
                guard let k = taps("inner_filter_len") else { return nil }
                return projections + 2 * t * d * k
            }
        case "mlp_hyena_x":
            guard let hidden = expandedWidth(), case .int(let k)? = attributes["short_filter_order"], k >= 1 else { return nil }
            return 2 * t * d * (3 * hidden) + 2 * t * hidden * d + 2 * t * (3 * hidden) * Int(k)
        case "mamba2", "mamba2_bidir", "mamba2_2d":
            func int(_ name: String) -> Int? {
                guard case .int(let v)? = attributes[name], v >= 1 else { return nil }
                return Int(v)
            }
            guard let n = int("d_state"), let k = int("d_conv"), let expand = int("expand"), let p = int("headdim"),
                let g = int("ngroups"), let chunk = int("chunk_size"), (expand * d) % p == 0
            else { return nil }
            let inner = expand * d, heads = inner / p, q = min(chunk, t)
            let scans = id == "mamba2" ? 1 : id == "mamba2_bidir" ? 2 : 4
            let projections = 2 * t * d * (2 * inner + 2 * g * n + heads) + 2 * t * inner * d
            let conv = 2 * t * (inner + 2 * g * n) * k
            let ssd = t * (heads * (2 * q * p + 4 * n * p) + g * 2 * q * n)
            return projections + scans * (conv + ssd)
        default:
            return nil
        }
    }
}
