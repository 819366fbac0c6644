import ArgumentParser
import Foundation
import HostBench
import HostConformance
import HostCore
import HostGraft
import HostModel
import HostPlugins

struct OpCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "op", abstract: "Run one operator on .npy files.", subcommands: [Run.self])

    /// `zoo op run`: a firm contract that outside tools use to check operators against their originals.
    struct Run: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Run an operator's forward (and optionally its vector-Jacobian product) on .npy files.",
            discussion: """
                X is [B, L, D], float32 or float64 (float64 is computed in float64 when the operator offers it, \
                else converted to float32). Y and DX are written as float32. Parameters use the upstream \
                state_dict names and shapes. Without --plugin the operator is found through registry.json.
                """)

        @Argument(help: "Operator id, e.g. mha, mlp, poolformer.")
        var operatorId: String

        @Option(help: "Load the operator from this library instead of through the registry.")
        var plugin: String?

        @Option(help: "Input X.npy, shape [B, L, D].")
        var input: String

        @Option(help: "Output Y.npy (float32).")
        var output: String

        @Option(
            help: "Parameters (safetensors or PyTorch .pt; upstream state_dict names, buffers and tied copies checked)."
        )
        var params: String?

        @Option(help: "Initialise the parameters with the plugin's upstream initialisation from this seed (default 0).")
        var seed: UInt64?

        @Option(help: "Write the parameters used to this safetensors file.")
        var saveParams: String?

        @Option(help: "Token grid HxW (L must equal H*W), for operators that need it.")
        var grid: GridSize?

        @Option(
            name: .customLong("set"),
            help: "Attribute NAME=VALUE (repeatable); tuples comma-separated, booleans true/false.")
        var assignments: [String] = []

        @Option(help: "Gradient of the output DY.npy, [B, L, D]: runs the vector-Jacobian product.")
        var gradOutput: String?

        @Option(help: "Write the input gradient DX.npy (float32).")
        var gradInput: String?

        @Option(help: "Write the parameter gradients (safetensors, float32, upstream names).")
        var gradParams: String?

        @OptionGroup var plugins: PluginOptions

        func validate() throws {
            if params != nil && seed != nil { throw ValidationError("give --params or --seed, not both") }
            if params != nil && saveParams != nil {
                throw ValidationError(
                    "--save-params goes with --seed (the parameters given by --params are already in a file)")
            }
            if gradOutput != nil && gradInput == nil && gradParams == nil {
                throw ValidationError("--grad-output needs --grad-input and/or --grad-params to say what to write")
            }
            if gradOutput == nil && (gradInput != nil || gradParams != nil) {
                throw ValidationError("--grad-input and --grad-params need --grad-output DY.npy")
            }
        }

        func run() throws {
            let host = try plugins.makeHost()
            let descriptor = try host.resolveOperator(operatorId, pluginPath: plugin)
            let x = try NPY.read(path: input)
            guard x.shape.count == 3 else {
                throw CLIError("--input '\(input)' has shape \(x.shape); expected [B, L, D]")
            }
            if case .int64 = x { throw CLIError("--input '\(input)' is int64; expected float32 or float64") }
            let attributes = try descriptor.parseAssignments(assignments)
            if let grid, grid.height * grid.width != x.shape[1] {
                throw CLIError(
                    "--grid \(grid.height)x\(grid.width) has \(grid.height * grid.width) cells, but the input has L = \(x.shape[1]) tokens"
                )
            }
            let op = try Operator(
                descriptor, dim: x.shape[2], grid: grid.map { (height: $0.height, width: $0.width) },
                attributes: attributes)
            if case .float64(let x64) = x, descriptor.capabilities.contains(.float64) {
                try compute(op, x: x64)
            } else {
                try compute(op, x: x.tensor(as: Float.self))
            }
        }

        private func compute<S: TensorScalar>(_ op: Operator, x: Tensor<S>) throws {
            let parameters: [Tensor<S>]
            if let params {
                parameters = try ParameterFile.load(params, for: op).map { $0.converted(to: S.self) }
            } else {
                parameters = try op.initialParameters(seed: seed ?? 0, as: S.self)
                if let saveParams {
                    try ParameterFile.save(parameters.map { $0.converted(to: Float.self) }, for: op, path: saveParams)
                }
            }
            let y = try op.forward(x, parameters: parameters)
            try NPY.write(y.converted(to: Float.self), path: output)
            var written = [output]
            if let gradOutput {
                let dyArray = try NPY.read(path: gradOutput)
                guard dyArray.shape == x.shape else {
                    throw CLIError(
                        "--grad-output '\(gradOutput)' has shape \(dyArray.shape); expected \(x.shape) (the shape of X)"
                    )
                }
                let dy: Tensor<S> = dyArray.tensor(as: S.self)
                let grads = try op.backward(
                    x, parameters: parameters, outputGradient: dy, needInputGradient: gradInput != nil,
                    parameterGradients: gradParams == nil ? [] : nil)
                if let gradInput, let dx = grads.input {
                    try NPY.write(dx.converted(to: Float.self), path: gradInput)
                    written.append(gradInput)
                }
                if let gradParams {
                    try ParameterFile.save(
                        grads.parameters.map { $0!.converted(to: Float.self) }, for: op, path: gradParams)
                    written.append(gradParams)
                }
            }
            print(
                "\(op.descriptor.id): [\(x.shape.map(String.init).joined(separator: ", "))] \(S.dtypeName) -> wrote \(written.joined(separator: ", "))"
            )
        }
    }
}
