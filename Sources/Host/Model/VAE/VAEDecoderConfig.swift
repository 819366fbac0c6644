/// The configuration of a Stable Diffusion VAE decoder, in diffusers' `AutoencoderKL` terms.
///
/// Read from a weights file by ``VAEDecoder/open(path:normNumGroups:scalingFactor:)``: the channel counts and depth
/// come from the tensor shapes; `norm_num_groups` and `scaling_factor` cannot be seen in the tensors and come from the
/// options (32 and 0.18215 by default, Stable Diffusion's values).
public struct VAEDecoderConfig: Equatable, Sendable {
    /// `block_out_channels`, encoder order (the decoder runs them reversed: `(128, 256, 512, 512)` in SD).
    public var blockOutChannels: [Int]
    /// `layers_per_block`: each decoder up block has `layersPerBlock + 1` resnets.
    public var layersPerBlock: Int
    /// `latent_channels` (4 in SD).
    public var latentChannels: Int
    /// `out_channels` (3: RGB).
    public var outChannels: Int
    /// `norm_num_groups` of every GroupNorm (32 in SD).
    public var normNumGroups: Int
    /// `scaling_factor`: ``VAEDecoder/decode(_:progress:)`` divides the latents by it first (DiT uses 0.18215).
    public var scalingFactor: Float

    /// Stable Diffusion's `norm_num_groups`.
    public static let defaultNormNumGroups = 32
    /// The scaling factor of facebookresearch/DiT's `sample.py` (and of `sd-vae-ft-ema` / `sd-vae-ft-mse`).
    public static let defaultScalingFactor: Float = 0.18215

    public init(
        blockOutChannels: [Int], layersPerBlock: Int, latentChannels: Int, outChannels: Int,
        normNumGroups: Int = defaultNormNumGroups, scalingFactor: Float = defaultScalingFactor
    ) {
        self.blockOutChannels = blockOutChannels
        self.layersPerBlock = layersPerBlock
        self.latentChannels = latentChannels
        self.outChannels = outChannels
        self.normNumGroups = normNumGroups
        self.scalingFactor = scalingFactor
    }

    /// How many times larger than the latents the images are: `2^(blocks - 1)` (8 in SD).
    public var upscale: Int { 1 << max(0, blockOutChannels.count - 1) }

    /// One line, e.g. `block_out_channels [128, 256, 512, 512], layers_per_block 2, latent_channels 4, ...`.
    public var summary: String {
        "block_out_channels \(blockOutChannels.shapeText), layers_per_block \(layersPerBlock), "
            + "latent_channels \(latentChannels), out_channels \(outChannels), norm_num_groups \(normNumGroups), "
            + "scaling_factor \(scalingFactor)"
    }
}
