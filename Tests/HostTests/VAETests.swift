import Foundation
import Testing

@testable import HostCore
@testable import HostModel

/// A file of `Tests/HostTests/Fixtures/VAE`, written by diffusers (`scripts/make-vae-fixtures`).
func vaeFixture(_ name: String) -> String {
    packageRoot.appendingPathComponent("Tests/HostTests/Fixtures/VAE/\(name)").path
}

/// The Stable Diffusion VAE decoder: against diffusers' `AutoencoderKL.decode` on a small random model, its kernels
/// against float64 references written from the math, the weight names and refusals, and `zoo vae decode` /
/// `zoo sample --vae` end to end.
@Suite struct VAETests {
    /// The fixture model's GroupNorm groups (`norm_num_groups` is not in the file).
    static let fixtureGroups = 2

    static func fixtureDecoder(_ name: String = "vae.safetensors") throws -> VAEDecoder {
        try VAEDecoder.open(path: vaeFixture(name), normNumGroups: fixtureGroups)
    }

    /// The largest magnitude of `values` (at least 1e-30).
    static func largest(_ values: [Double]) -> Double { max(1e-30, values.map(abs).max() ?? 0) }

    @Test func decoderMatchesDiffusers() throws {
        let vae = try Self.fixtureDecoder()
        #expect(
            vae.config
                == VAEDecoderConfig(
                    blockOutChannels: [4, 8], layersPerBlock: 1, latentChannels: 4, outChannels: 3, normNumGroups: 2,
                    scalingFactor: 0.18215))
        #expect(vae.config.upscale == 2)
        let latents = try NPY.readTensor(path: vaeFixture("latents.npy"), as: Float.self)
        let expected = try NPY.readTensor(path: vaeFixture("decoded.npy"), as: Float.self).scalars.map(Double.init)
        var reports: [(Int, Int)] = []
        let images = try vae.decode(latents) { reports.append(($0, $1)) }
        #expect(images.shape == [2, 3, 16, 16])
        // 1e-4 of the output's scale, elementwise: both sides compute in float32 (their sums in other orders: im2col
        // + OpenBLAS here, oneDNN / mkldnn convolutions there; GroupNorm statistics in float64 here) and SiLU's and
        // softmax's exp differ by a few ulp, which twelve layers grow to about 1e-6 of the output's magnitude; a
        // wrong index, bias, group or scale moves it by more than 1e-2.
        let scale = Self.largest(expected)
        expectClose(images, expected, rtol: 1e-4, atol: 1e-4 * scale, "VAE decode vs diffusers")
        // decode divides by the scaling factor; forward takes latents already divided, as AutoencoderKL.decode does.
        var divided = latents
        divided.withUnsafeMutableBufferPointer { p in for i in p.indices { p[i] /= 0.18215 } }
        #expect(try vae.forward(divided) == images)
        // Progress: from 0 to the total, one unit at a time, 2 images x (conv_in, mid 3, up 2 + 1 + 2, out).
        #expect(reports.map(\.0) == Array(0...20) && reports.allSatisfy { $0.1 == 20 })
        #expect(vae.parameterCount == 6_935)
    }

    /// diffusers' old attention names (`query`, `key`, `value`, `proj_attn`), and 1x1-conv-shaped projection weights
    /// `[C, C, 1, 1]`, load the same decoder: the same bits out.
    @Test func oldAttentionNamesAndConvShapedWeightsDecodeTheSameBits() throws {
        let latents = try NPY.readTensor(path: vaeFixture("latents.npy"), as: Float.self)
        let images = try Self.fixtureDecoder().decode(latents)
        let old = try Self.fixtureDecoder("vae_old_names.safetensors")
        #expect(old.config == (try Self.fixtureDecoder()).config)
        #expect(try old.decode(latents) == images)
        var tensors = try Self.tensors()
        for i in tensors.indices where tensors[i].name.contains(".attentions.0.to_") && tensors[i].shape.count == 2 {
            let t = try Self.float32(tensors[i])
            tensors[i] = SafetensorsTensor(name: tensors[i].name, try t.reshaped(t.shape + [1, 1]))
        }
        #expect(tensors.filter { $0.shape.count == 4 && $0.name.contains("attentions.0.to_") }.count == 8)
        let convShaped = try VAEDecoder(file: Self.file(tensors), normNumGroups: Self.fixtureGroups)
        #expect(try convShaped.decode(latents) == images)
        // float16 weights are widened exactly: the same decoder as float32 weights holding the same (rounded) values.
        let half = try Self.tensors().map { SafetensorsTensor(name: $0.name, try Self.float32($0), dtype: .float16) }
        let halfFile = try Self.file(half)
        let rounded = try halfFile.names.map { SafetensorsTensor(name: $0, try halfFile.tensor(named: $0)) }
        #expect(
            try VAEDecoder(file: halfFile, normNumGroups: 2).decode(latents)
                == VAEDecoder(file: Self.file(rounded), normNumGroups: 2).decode(latents))
    }

    // MARK: Kernels against float64 references

    /// `y[co, y, x] = b[co] + sum w[co, ci, dy, dx] in[ci, y + dy - k/2, x + dx - k/2]`, zero outside; with `upsample`
    /// the input is first repeated 2x2 (nearest neighbour).
    static func referenceConv(
        _ x: [Double], cin: Int, height: Int, width: Int, upsample: Bool, weight: [Double], bias: [Double], cout: Int,
        kernel k: Int
    ) -> [Double] {
        let (oh, ow) = upsample ? (2 * height, 2 * width) : (height, width)
        func input(_ c: Int, _ y: Int, _ x0: Int) -> Double {
            guard y >= 0, y < oh, x0 >= 0, x0 < ow else { return 0 }
            return upsample ? x[(c * height + y / 2) * width + x0 / 2] : x[(c * height + y) * width + x0]
        }
        var out = [Double](repeating: 0, count: cout * oh * ow)
        for co in 0..<cout {
            for y in 0..<oh {
                for x0 in 0..<ow {
                    var s = bias[co]
                    for ci in 0..<cin {
                        for dy in 0..<k {
                            for dx in 0..<k {
                                s +=
                                    weight[((co * cin + ci) * k + dy) * k + dx]
                                    * input(ci, y + dy - k / 2, x0 + dx - k / 2)
                            }
                        }
                    }
                    out[(co * oh + y) * ow + x0] = s
                }
            }
        }
        return out
    }

    /// (cin, cout, kernel, height, width, upsample, stripFloats): 3x3 and 1x1, fewer and more than 16 output channels
    /// (column and row splits), one-pixel and non-square maps, and patch buffers small enough to cut many strips.
    @Test(arguments: [
        (3, 5, 3, 7, 6, false, Conv2d.stripFloats), (3, 20, 3, 5, 9, true, Conv2d.stripFloats),
        (6, 17, 1, 4, 5, false, Conv2d.stripFloats), (2, 3, 3, 1, 1, false, Conv2d.stripFloats),
        (4, 18, 3, 9, 7, false, 4 * 9 * 7 * 2), (5, 3, 3, 6, 5, true, 1), (3, 4, 1, 3, 4, true, 20),
    ])
    func conv2dMatchesTheFloat64Reference(
        cin: Int, cout: Int, kernel: Int, height: Int, width: Int, upsample: Bool, stripFloats: Int
    ) throws {
        let seed = UInt64(cin * 1000 + cout * 10 + kernel)
        let x = Tensor<Float>.randomNormal([cin, height, width], seed: seed)
        let w = Tensor<Float>.randomNormal([cout, cin, kernel, kernel], seed: seed + 1, scale: 0.3)
        let b = Tensor<Float>.randomNormal([cout], seed: seed + 2)
        let conv = Conv2d(weight: w, bias: b)
        let (oh, ow) = upsample ? (2 * height, 2 * width) : (height, width)
        var y = Tensor<Float>(zeros: [cout, oh, ow])
        try conv.apply(x, height: height, width: width, upsample: upsample, into: &y, stripFloats: stripFloats)
        let expected = Self.referenceConv(
            x.scalars.map(Double.init), cin: cin, height: height, width: width, upsample: upsample,
            weight: w.scalars.map(Double.init), bias: b.scalars.map(Double.init), cout: cout, kernel: kernel)
        let label = "conv \(cin)->\(cout) k\(kernel) \(height)x\(width)\(upsample ? " up" : "") strip \(stripFloats)"
        expectClose(y, expected, rtol: 1e-5, atol: 1e-5 * Self.largest(expected), label)
        // accumulate adds the convolution to what the output holds.
        let base = Tensor<Float>.randomNormal([cout, oh, ow], seed: seed + 3)
        var sum = base
        try conv.apply(
            x, height: height, width: width, upsample: upsample, into: &sum, accumulate: true, stripFloats: stripFloats)
        let expectedSum = zip(base.scalars, expected).map { Double($0) + $1 }
        expectClose(sum, expectedSum, rtol: 1e-5, atol: 1e-5 * Self.largest(expectedSum), label + " accumulate")
        // The same call gives the same bits (the strips and the pool's pieces depend on the shapes alone; OpenBLAS's
        // kernels may round a column differently with the strip's width, so other strips may differ in the last bit).
        var again = Tensor<Float>(zeros: [cout, oh, ow])
        try conv.apply(x, height: height, width: width, upsample: upsample, into: &again, stripFloats: stripFloats)
        #expect(again == y, "\(label): not deterministic")
    }

    /// `nn.GroupNorm(groups, C, eps=1e-6)` with affine, then SiLU when asked, in float64.
    static func referenceGroupNorm(
        _ x: [Double], channels: Int, plane: Int, groups: Int, scale: [Double], shift: [Double], silu: Bool
    ) -> [Double] {
        let perGroup = channels / groups
        var out = x
        for g in 0..<groups {
            let range = (g * perGroup * plane)..<((g + 1) * perGroup * plane)
            let mean = x[range].reduce(0, +) / Double(range.count)
            let variance = x[range].map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(range.count)
            for i in range {
                let c = i / plane
                let y = (x[i] - mean) / (variance + 1e-6).squareRoot() * scale[c] + shift[c]
                out[i] = silu ? y / (1 + Foundation.exp(-y)) : y
            }
        }
        return out
    }

    @Test(arguments: [(12, 3, 35, true), (12, 4, 35, false), (8, 8, 1, true), (6, 1, 17, false), (32, 2, 13, true)])
    func groupNormMatchesTheFloat64Reference(channels: Int, groups: Int, plane: Int, silu: Bool) throws {
        let seed = UInt64(channels * 100 + groups * 10 + plane)
        var x = Tensor<Float>.randomNormal([channels, plane], seed: seed, scale: 2)
        // An offset far from zero: the variance must not come from E[x^2] - E[x]^2 in float32.
        x.withUnsafeMutableBufferPointer { p in for i in p.indices { p[i] += 30 } }
        let scale = Tensor<Float>.randomNormal([channels], seed: seed + 1)
        let shift = Tensor<Float>.randomNormal([channels], seed: seed + 2)
        let norm = GroupNorm(groups: groups, scale: scale, shift: shift)
        let y = norm(x, plane: plane, silu: silu)
        let expected = Self.referenceGroupNorm(
            x.scalars.map(Double.init), channels: channels, plane: plane, groups: groups,
            scale: scale.scalars.map(Double.init), shift: shift.scalars.map(Double.init), silu: silu)
        expectClose(y, expected, rtol: 1e-5, atol: 1e-5, "GroupNorm C\(channels) G\(groups) plane \(plane)")
        var inPlace = x
        norm.applyInPlace(&inPlace, plane: plane, silu: silu)
        #expect(inPlace == y)
    }

    /// The mid-block attention against float64 math, with score blocks of one, several and all query rows.
    @Test(arguments: [1 << 22, 20 * 7, 1])
    func attentionMatchesTheFloat64Reference(blockFloats: Int) throws {
        let (c, n) = (6, 20)
        var tensors: [String: Tensor<Float>] = [
            "a.group_norm.weight": .randomNormal([c], seed: 1), "a.group_norm.bias": .randomNormal([c], seed: 2),
        ]
        for (i, name) in ["to_q", "to_k", "to_v", "to_out.0"].enumerated() {
            tensors["a.\(name).weight"] = .randomNormal([c, c], seed: UInt64(10 + i), scale: 0.5)
            tensors["a.\(name).bias"] = .randomNormal([c], seed: UInt64(20 + i))
        }
        let attention = MidBlockAttention(tensors, prefix: "a", groups: 2)
        let x = Tensor<Float>.randomNormal([c, n], seed: 3)
        var y = x
        try attention.apply(&y, positions: n, blockFloats: blockFloats)
        // Reference: h = GroupNorm(x); q, k, v = h^T W^T + b; x + (softmax(q k^T / sqrt(c)) v W_o^T + b_o)^T.
        func d(_ name: String) -> [Double] { tensors["a." + name]!.scalars.map(Double.init) }
        let h = Self.referenceGroupNorm(
            x.scalars.map(Double.init), channels: c, plane: n, groups: 2, scale: d("group_norm.weight"),
            shift: d("group_norm.bias"), silu: false)
        func project(_ rows: [Double], _ name: String, transposedInput: Bool) -> [Double] {
            let w = d(name + ".weight"), b = d(name + ".bias")
            var out = [Double](repeating: 0, count: n * c)
            for p in 0..<n {
                for o in 0..<c {
                    var s = b[o]
                    for i in 0..<c { s += w[o * c + i] * (transposedInput ? rows[i * n + p] : rows[p * c + i]) }
                    out[p * c + o] = s
                }
            }
            return out
        }
        let q = project(h, "to_q", transposedInput: true), k = project(h, "to_k", transposedInput: true)
        let v = project(h, "to_v", transposedInput: true)
        var attended = [Double](repeating: 0, count: n * c)
        for p in 0..<n {
            let scores = (0..<n).map { j in
                (0..<c).reduce(0.0) { $0 + q[p * c + $1] * k[j * c + $1] } / Double(c).squareRoot()
            }
            let m = scores.max()!
            let e = scores.map { Foundation.exp($0 - m) }
            let total = e.reduce(0, +)
            for o in 0..<c { attended[p * c + o] = (0..<n).reduce(0.0) { $0 + e[$1] / total * v[$1 * c + o] } }
        }
        let out = project(attended, "to_out.0", transposedInput: false)
        let expected = (0..<(c * n)).map { i in Double(x.scalars[i]) + out[(i % n) * c + i / n] }
        expectClose(y, expected, rtol: 1e-5, atol: 1e-5 * Self.largest(expected), "attention, blocks \(blockFloats)")
    }

    // MARK: Weights: names, shapes, refusals

    /// The fixture's tensors as stored.
    static func tensors() throws -> [SafetensorsTensor] {
        try SafetensorsFile.read(path: vaeFixture("vae.safetensors")).storedTensors()
    }

    static func float32(_ t: SafetensorsTensor) throws -> Tensor<Float> {
        try SafetensorsFile.read(path: vaeFixture("vae.safetensors")).tensor(named: t.name)
    }

    /// A file of `tensors`, held in memory and named `variant.safetensors`.
    static func file(_ tensors: [SafetensorsTensor]) throws -> SafetensorsFile {
        try SafetensorsFile.decode(SafetensorsFile.encode(tensors: tensors), path: "variant.safetensors")
    }

    /// The error of a decoder from `tensors` (with `groups`), or nil when it loads.
    static func loadError(_ tensors: [SafetensorsTensor], groups: Int = fixtureGroups) throws -> VAEError? {
        let file = try file(tensors)
        do {
            _ = try VAEDecoder(file: file, normNumGroups: groups)
            return nil
        } catch {
            return error
        }
    }

    @Test func everyRefusalNamesTheTensorOrField() throws {
        let all = try Self.tensors()
        let path = "variant.safetensors"
        func without(_ name: String) -> [SafetensorsTensor] { all.filter { $0.name != name } }
        func replacing(_ name: String, shape: [Int]) -> [SafetensorsTensor] {
            all.map { $0.name == name ? SafetensorsTensor(name: name, Tensor<Float>(zeros: shape)) : $0 }
        }
        let shortcut = "decoder.up_blocks.1.resnets.0.conv_shortcut.weight"
        #expect(
            try Self.loadError(without(shortcut))
                == .missingTensor(path: path, name: shortcut, expected: "[4, 8, 1, 1]"))
        let bias = "decoder.mid_block.resnets.1.conv2.bias"
        #expect(
            try Self.loadError(replacing(bias, shape: [7]))
                == .tensorShape(path: path, name: bias, expected: "[8]", found: [7]))
        let query = "decoder.mid_block.attentions.0.to_q.weight"
        #expect(
            try Self.loadError(replacing(query, shape: [8, 4]))
                == .tensorShape(path: path, name: query, expected: "[8, 8] or [8, 8, 1, 1]", found: [8, 4]))
        let extra = all + [SafetensorsTensor(name: "decoder.extra.weight", Tensor<Float>(zeros: [2]))]
        #expect(try Self.loadError(extra) == .unexpectedTensors(path: path, names: ["decoder.extra.weight"]))
        // An up block with one resnet more than the others: its tensors are unexpected.
        let third = all.filter { $0.name.hasPrefix("decoder.up_blocks.1.resnets.1.") }.map {
            SafetensorsTensor(
                name: $0.name.replacingOccurrences(of: "resnets.1.", with: "resnets.2."), try! Self.float32($0))
        }
        guard case .unexpectedTensors(_, let names) = try Self.loadError(all + third) else {
            Issue.record("a third resnet was accepted")
            return
        }
        #expect(names.count == 8 && names.allSatisfy { $0.hasPrefix("decoder.up_blocks.1.resnets.2.") })
        // Both names of one attention tensor.
        let old = SafetensorsTensor(
            name: "decoder.mid_block.attentions.0.key.bias", Tensor<Float>(zeros: [8]))
        #expect(
            try Self.loadError(all + [old])
                == .duplicateTensor(
                    path: path, name: "decoder.mid_block.attentions.0.to_k.bias",
                    alias: "decoder.mid_block.attentions.0.key.bias"))
        // Integer tensors; groups that do not divide the channels; a file that is no VAE.
        let ints = all.map {
            $0.name == "decoder.conv_out.bias"
                ? SafetensorsTensor(name: $0.name, int64: try! Int64Array(shape: [3], scalars: [1, 2, 3])) : $0
        }
        #expect(try Self.loadError(ints) == .tensorType(path: path, name: "decoder.conv_out.bias", found: "I64"))
        guard case .config(_, "norm_num_groups", let reason) = try Self.loadError(all, groups: 3) else {
            Issue.record("3 groups of 8 channels were accepted")
            return
        }
        #expect(reason.contains("'decoder.mid_block.resnets.0.norm1.weight'") && reason.contains("8 channels"))
        #expect(
            try Self.loadError(without("decoder.conv_in.weight"))
                == .missingTensor(path: path, name: "decoder.conv_in.weight", expected: "[C, latent_channels, 3, 3]"))
        // The encoder is ignored: a decoder-only file loads, and so does one without quant_conv.
        #expect(
            try Self.loadError(all.filter { !$0.name.hasPrefix("encoder.") && !$0.name.hasPrefix("quant_") }) == nil)
        // The messages name the file and the tensor.
        let message = try #require(try Self.loadError(without(shortcut))).description
        #expect(message.contains(path) && message.contains(shortcut), "\(message)")
        #expect(throws: VAEError.self) { try VAEDecoder.open(path: vaeFixture("latents.npy")) }
    }

    @Test func latentsOfTheWrongShapeAreRefused() throws {
        let vae = try Self.fixtureDecoder()
        for shape in [[4, 8, 8], [1, 3, 8, 8], [0, 4, 8, 8], [1, 4, 0, 2]] {
            #expect(
                throws: VAEError.argument(
                    name: "latents", expected: "[N, 4, h, w] (N, h, w >= 1)", found: shape.shapeText)
            ) { try vae.decode(Tensor<Float>(zeros: shape)) }
        }
        // Non-square latents decode to non-square images.
        #expect(try vae.decode(Tensor<Float>.randomNormal([1, 4, 3, 5], seed: 1)).shape == [1, 3, 6, 10])
    }

    // MARK: The CLI

    @Test func zooVAEDecodeWritesTheGridAndTheImages() throws {
        let dir = try TestDirectory()
        let (grid, npy) = (dir.file("grid.png"), dir.file("images.npy"))
        let run = try runCommand(
            try zooPath(),
            [
                "vae", "decode", "--vae", vaeFixture("vae.safetensors"), "--latents", vaeFixture("latents.npy"),
                "--out",
                grid, "--npy", npy, "--norm-groups", "2",
            ])
        #expect(run.status == 0, "\(run.stderr)")
        #expect(run.stdout.contains("wrote \(grid): 2 images 16x16"), "\(run.stdout)")
        let image = try PNGImage.read(path: grid)
        #expect(image.width == 2 * (16 + 2) + 2 && image.height == 16 + 2 * 2)
        let latents = try NPY.readTensor(path: vaeFixture("latents.npy"), as: Float.self)
        let images = try Self.fixtureDecoder().decode(latents)
        #expect(try NPY.readTensor(path: npy, as: Float.self) == images)
        #expect(image == (try ImageGrid.tile(images, columns: 8)))
        // Refusals name their cause.
        try NPY.write(Tensor<Float>(zeros: [4, 8, 8]), path: dir.file("rank3.npy"))
        try NPY.write(Tensor<Float>(zeros: [1, 3, 8, 8]), path: dir.file("rgb.npy"))
        let cases: [([String], String)] = [
            (["--latents", dir.file("rank3.npy")], "rank 4"), (["--latents", dir.file("rgb.npy")], "3 channels"),
            (["--latents", vaeFixture("latents.npy"), "--norm-groups", "3"], "norm_num_groups"),
            (["--latents", vaeFixture("latents.npy"), "--scaling-factor", "0"], "--scaling-factor"),
        ]
        for (arguments, needle) in cases {
            let refused = try runCommand(
                try zooPath(),
                ["vae", "decode", "--vae", vaeFixture("vae.safetensors"), "--out", dir.file("x.png")] + arguments
                    + (arguments.contains("--norm-groups") ? [] : ["--norm-groups", "2"]))
            #expect(refused.status != 0 && refused.stderr.contains(needle), "\(arguments): \(refused.stderr)")
        }
        #expect(!FileManager.default.fileExists(atPath: dir.file("x.png")))
    }

    /// `zoo sample --vae`: a latent DiT's samples decoded by the VAE into the grid; the VAE must match the model.
    @Test func zooSampleDecodesALatentModel() throws {
        let ws = try CLITests.Workspace()
        var latent = TrainingTests.tinyConfig
        latent.inChannels = 4
        for (name, config) in [("latent", latent), ("pixel", TrainingTests.tinyConfig)] {
            try Data(config.jsonString().utf8).write(to: URL(fileURLWithPath: ws.path("\(name).json")))
            let initialised = try ws.zoo([
                "dit", "init", "--config", ws.path("\(name).json"), "--seed", "3", "--out",
                ws.path("\(name).safetensors"),
            ])
            try #require(initialised.status == 0, "\(initialised.stderr)")
        }
        let (grid, npy) = (ws.path("g.png"), ws.path("s.npy"))
        let sample = [
            "sample", "--allow-unconformant", "--classes", "0,1", "--per-class", "1", "--steps", "2", "--vae",
            vaeFixture("vae.safetensors"), "--vae-norm-groups", "2", "--out", grid,
        ]
        let s = try ws.zoo(sample + ["--checkpoint", ws.path("latent.safetensors"), "--npy", npy])
        #expect(s.status == 0 && s.stdout.contains("decoded by"), "\(s.stderr)")
        let latents = try NPY.readTensor(path: npy, as: Float.self)
        #expect(latents.shape == [2, 4, 16, 16])
        let image = try PNGImage.read(path: grid)
        #expect(image.width == 32 + 2 * 2 && image.height == 2 * (32 + 2) + 2)
        #expect(image == (try ImageGrid.tile(try Self.fixtureDecoder().decode(latents), columns: 1)))
        // A pixel-space model's 3 channels are not the VAE's 4 latent channels; a latent model needs --vae.
        let pixel = try ws.zoo(sample + ["--checkpoint", ws.path("pixel.safetensors")])
        #expect(
            pixel.status != 0 && pixel.stderr.contains("4-channel latents")
                && pixel.stderr.contains("in_channels is 3"), "\(pixel.stderr)")
        let noVAE = try ws.zoo(
            Array(sample.prefix(8)) + ["--out", grid, "--checkpoint", ws.path("latent.safetensors")])
        #expect(noVAE.status != 0 && noVAE.stderr.contains("--vae"), "\(noVAE.stderr)")
    }
}
